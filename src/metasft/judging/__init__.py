"""Judging: scores of free-text and multiple-choice answers, by an option parser or an LLM judge, through a cache.

Backends, chosen by config `judge.backend`:

* ``categorical``: the option parser of preference suites, no judge at all (`score`).
* ``hf``: a local model scored like the EM judge, by teacher-forced probabilities of the verdicts (`hf_judge`).
* ``anthropic``: a Claude model through the Messages API or the Message Batches API (`anthropic_judge`).

An LLM judge serves any rubric (`prompts.Rubric`: a prompt with its scale, 0-100 or TRUE / FALSE): the EM metrics'
prompts of advice suites, or the judge prompts of a judged custom suite's questions. Every judgment goes through the
persistent judge cache, keyed by backend, judge model, rubric hash, question and answer, so reruns and restarts never judge the same answer twice.

Modules:

* `prompts`: judge prompts, rubrics and the verdict vocabulary (metrics, word replies, judged outcomes); strict reply
  parsing.
* `score`: the score stage, the option parser, the EM scoring rules, scoring by each question's rubric, `build_judge`.
* `hf_judge`: `HFJudge`, the local-model judge.
* `anthropic_judge`: `AnthropicJudge` (direct and batch paths, persisted batches).
* `api`: the anthropic SDK client, retries with backoff and error descriptions (also used by suite generation).
* `cache`: `JudgeCache`, the judgment and API-response cache shared by concurrent jobs.

Only `anthropic_judge` and `api` import the anthropic SDK, so a run that neither judges with anthropic nor generates
suite areas (a trivia run) never loads it.
"""
