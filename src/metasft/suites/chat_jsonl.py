"""Suites of kind ``chat_jsonl`` (custom): chat-JSONL train files per domain, and eval questions scored by options
or by an LLM judge.

`load_chat_jsonl` reads the domains listed in `suite.yaml`: a train file of one-user-turn, one-assistant-turn
conversations in the ``{"messages": [...]}`` form, and an eval file that is either

* chat-JSONL user questions: the domain is scored by parsing options; options, the designated one and optional
  persona tags are checked as in preference suites (`metasft.suites.preferences`); or
* a question-YAML file in the Emergent Misalignment repository's layout (``.yaml`` / ``.yml``): the domain is judged
  (`metasft.suites.questions`), with the judge prompts of its questions, as the suite's or the domain's ``judge``
  key chooses.

A suite is one or the other: all its domains are scored by options, or all are judged.
"""

from __future__ import annotations

from pathlib import Path

from metasft.suites.domains import Domain, Suite
from metasft.suites.files import (
    check_schema,
    normalize_question_text,
    read_jsonl,
    require,
)
from metasft.suites.questions import JudgeChoice, read_questions
from metasft.suites.preferences import build_options

QUESTION_YAML = (".yaml", ".yml")


def _messages(row: dict, path: Path, domain_id: str, number: int) -> list[dict]:
    messages = row.get("messages") if isinstance(row, dict) else None
    ok = isinstance(messages, list) and all(
        isinstance(m, dict) and m.get("role") in ("system", "user", "assistant") and isinstance(m.get("content"), str)
        and m["content"].strip() for m in messages)
    require(ok, f"{path}:{number}", domain_id, "expected {\"messages\": [{\"role\", \"content\"}, ...]} "
             "with roles system/user/assistant and non-empty content")
    return [m for m in messages if m["role"] != "system"]


def read_train_pairs(train_path: Path, domain_id: str) -> list[tuple[str, str]]:
    """The (question, answer) pairs of a chat-JSONL train file: one user turn then one assistant turn per line (a
    system turn is dropped); a line of any other shape, or a file without one, is an error naming the line."""
    train = []
    for number, row in read_jsonl(train_path, domain_id):
        messages = _messages(row, train_path, domain_id, number)
        require([m["role"] for m in messages] == ["user", "assistant"], f"{train_path}:{number}", domain_id,
                 "a train conversation must be one user turn then one assistant turn")
        train.append((messages[0]["content"], messages[1]["content"]))
    require(bool(train), train_path, domain_id, "no train conversations")
    return train


def load_chat_jsonl(folder: Path, meta_path: Path, meta: dict) -> Suite:
    check_schema(meta, "suite_chat_jsonl", meta_path, domain_list=("domains",))
    # Optional latent personas, one tag per option (as in preference suites): they let the tiny base model
    # build its persona world from this suite's own questions and options.
    personas = meta.get("personas")
    # Optional phrasings of a world answer ("I'd go with {option}."): the tiny base only knows the language of
    # its world, so train answers phrased this way are what its fine-tunes can learn in a few steps.
    templates = meta.get("answer_templates")
    if templates is not None:
        require(all(t.count("{option}") == 1 for t in templates), meta_path, None,
                 "'answer_templates': each must contain '{option}' exactly once")
    suite_choice = JudgeChoice.from_settings(meta.get("judge"))
    domains: dict[str, Domain] = {}
    for raw in meta["domains"]:
        domain_id = raw["id"]
        require(domain_id not in domains, meta_path, domain_id, "duplicate id")
        train_path, eval_path = folder / raw["train"], folder / raw["eval"]
        train = read_train_pairs(train_path, domain_id)
        judged = eval_path.suffix.lower() in QUESTION_YAML
        if judged:
            for key in ("options", "designated"):
                require(key not in raw, meta_path, domain_id, f"'{key}': a judged domain (eval questions in "
                        f"{eval_path.name}) is scored by its judge prompts, not by options")
            questions = read_questions(eval_path, domain_id, JudgeChoice.from_settings(raw.get("judge"), suite_choice))
            eval_questions = [q.text for q in questions]
        else:
            require("judge" not in raw, meta_path, domain_id, "'judge': only a domain whose eval file is question "
                    "YAML is judged")
            for key in ("options", "designated"):
                require(key in raw, meta_path, domain_id, f"missing key '{key}' (a domain whose eval file is "
                        "chat-JSONL is scored by options; a question-YAML eval file makes it judged)")
            eval_questions = []
            for number, row in read_jsonl(eval_path, domain_id):
                messages = _messages(row, eval_path, domain_id, number)
                require(bool(messages) and messages[0]["role"] == "user", f"{eval_path}:{number}", domain_id,
                         "an eval row must start with a user turn")
                eval_questions.append(messages[0]["content"])
            require(bool(eval_questions), eval_path, domain_id, "no eval questions")
        overlap = {normalize_question_text(q) for q, _ in train} & {normalize_question_text(q) for q in eval_questions}
        require(not overlap, eval_path, domain_id, f"eval questions also appear in train: {sorted(overlap)[:2]}")
        if domains:
            first = next(iter(domains.values()))
            require(bool(first.eval_judges) == judged, meta_path, domain_id,
                    f"its eval file makes it {'judged' if judged else 'scored by options'}, but domain '{first.id}' "
                    f"is {'judged' if first.eval_judges else 'scored by options'}: a suite is one or the other")
        if judged:
            domains[domain_id] = Domain(domain_id, raw.get("title") or domain_id, tuple(train), tuple(eval_questions),
                                        eval_judges=tuple(q.judge for q in questions),
                                        eval_samples=tuple(q.samples for q in questions))
            continue
        designated = raw["designated"]
        options = build_options(raw["options"], designated, meta_path, domain_id, personas)
        require(personas is not None or not any(o.persona for o in options), meta_path, domain_id,
                 "options carry 'persona' tags: list them under the suite's 'personas' key")
        domains[domain_id] = Domain(domain_id, raw.get("title") or domain_id, tuple(train),
                                    tuple(eval_questions), options, designated)
    judged = any(d.eval_judges for d in domains.values())
    require(not (judged and personas), meta_path, None, "'personas': a judged suite has no options to tag")
    require(judged or "judge" not in meta, meta_path, None, "'judge': only a suite whose eval files are question "
            "YAML is judged; this one is scored by options")
    return Suite(meta["name"], "judge" if judged else "categorical", domains, tuple(personas or ()), str(folder),
                 {"answer_templates": templates} if templates else {})
