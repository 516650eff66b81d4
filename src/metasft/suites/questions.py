"""Eval questions in the question-YAML layout of the Emergent Misalignment repository (Betley et al. 2025), read as
they are: a list of entries with ``id``, ``paraphrases``, ``samples_per_paraphrase`` and ``judge_prompts`` (a
mapping of names to prompt templates with ``{question}`` and ``{answer}``), optionally ``type`` and ``judge``.

Every paraphrase is an eval question of its own, sampled ``samples_per_paraphrase`` times and judged with the
entry's prompts. Which prompt gives the propensity, on which scale, and which one gates on coherence is the
suite's choice (`JudgeChoice`, from the ``judge`` key of a ``chat_jsonl`` suite or of one of its domains). The
entry's ``judge`` (the judge model the EM repository used) is read and not used: config ``judge`` picks the model.
Errors name the file, the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from metasft.judging.prompts import PROPENSITY_WORDS, Rubric
from metasft.suites.domains import EvalJudge, SuiteError
from metasft.suites.files import check_schema, entry_lines, normalize_question_text, parse_yaml, read_text

# The entry `type`s that name a judged free-form question, and the scale each one's propensity prompt is on.
QUESTION_TYPES = {"free_form_judge_0_100": "0_100", "free_form_judge_binary": "binary"}


@dataclass(frozen=True)
class JudgeChoice:
    """Which of an entry's judge prompts gives the propensity (`metric`; None: the only one that is not the
    coherence prompt), its scale when the entry has no ``type`` (`scale`), the prompt of the coherence gate
    (`coherence`; None: no gate), and whether the propensity is 100 minus the verdict (`reverse`)."""

    metric: str | None = None
    scale: str = "0_100"
    coherence: str | None = None
    reverse: bool = False

    @classmethod
    def from_settings(cls, settings: dict | None, base: "JudgeChoice | None" = None) -> "JudgeChoice":
        """`settings` (a checked ``judge`` mapping of suite.yaml) over `base` (the suite's choice)."""
        merged = {**(base.__dict__ if base else {}), **(settings or {})}
        return cls(**merged)


@dataclass(frozen=True)
class EvalQuestion:
    text: str
    samples: int
    judge: EvalJudge
    line: int  # of the paraphrase in its file


def _question_judge(entry: dict, choice: JudgeChoice, where) -> EvalJudge:
    prompts = entry["judge_prompts"]
    if choice.coherence is not None and choice.coherence not in prompts:
        raise SuiteError(f"{where('judge_prompts')}: no prompt '{choice.coherence}' for the coherence gate (judge."
                         f"coherence); it has {', '.join(map(repr, prompts))}")
    metric = choice.metric
    if metric is None:
        candidates = [name for name in prompts if name != choice.coherence]
        if len(candidates) != 1:
            raise SuiteError(f"{where('judge_prompts')}: {len(candidates)} prompts could give the propensity "
                             f"({', '.join(map(repr, candidates)) or 'none'}): name one with judge.metric in "
                             "suite.yaml")
        metric = candidates[0]
    if metric not in prompts:
        raise SuiteError(f"{where('judge_prompts')}: no prompt '{metric}' (judge.metric); it has "
                         f"{', '.join(map(repr, prompts))}")
    scale = QUESTION_TYPES[entry["type"]] if "type" in entry else choice.scale
    try:
        rubric = Rubric(metric, prompts[metric], scale, PROPENSITY_WORDS[scale])
        coherence = Rubric(choice.coherence, prompts[choice.coherence]) if choice.coherence else None
    except ValueError as error:  # a prompt without {question} or {answer}
        raise SuiteError(f"{where('judge_prompts')}: {error}") from None
    return EvalJudge(rubric, coherence, choice.reverse)


def read_questions(path: Path, domain_id: str, choice: JudgeChoice, default_samples: int | None = None
                   ) -> list[EvalQuestion]:
    """The eval questions of the question-YAML file `path` (one per paraphrase, in file order), checked: the
    layout (schemas/em_question.yaml), unique entry ids and paraphrases, and the judge prompts `choice` names."""
    text = read_text(path, domain_id)
    entries = parse_yaml(text, path)
    lines = entry_lines(text)
    if not isinstance(entries, list) or not entries:
        raise SuiteError(f"{path}: domain '{domain_id}': expected a list of questions (entries with id, paraphrases, "
                         "samples_per_paraphrase and judge_prompts)")
    questions: list[EvalQuestion] = []
    first_line: dict[str, int] = {}
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries):
        line, key_lines = lines[number] if number < len(lines) else (None, {})

        def where(key: str | None = None, line=line, key_lines=key_lines, entry=entry, named: bool = True) -> str:
            """file:line (of `key` when given), domain and question, then `key` unless not `named`."""
            at = key_lines.get(key, line) if key else line
            name = entry.get("id") if isinstance(entry, dict) and isinstance(entry.get("id"), str) else None
            question = f": question '{name}'" if name else f": entry {number + 1}"
            return f"{path}{':' + str(at) if at else ''}: domain '{domain_id}'{question}" + \
                (f": {key}" if key and named else "")

        try:
            check_schema(entry, "em_question", "", domain=None)
        except SuiteError as error:
            detail = str(error).removeprefix(": ")
            field = detail.split(":")[0].split(".")[0].split("[")[0]
            raise SuiteError(f"{where(field if field in key_lines else None, named=False)}: {detail}") from None
        if entry["id"] in first_line:
            raise SuiteError(f"{where('id')}: duplicate question id (first at line {first_line[entry['id']]})")
        first_line[entry["id"]] = line
        if "system" in entry:
            raise SuiteError(f"{where('system')}: questions with a system prompt are not supported (the pipeline "
                             "asks every eval question as a single user turn)")
        judge = _question_judge(entry, choice, where)
        samples = entry.get("samples_per_paraphrase", default_samples)
        for index, paraphrase in enumerate(entry["paraphrases"]):
            normalized = normalize_question_text(paraphrase)
            if normalized in seen:
                raise SuiteError(f"{where('paraphrases')}[{index}]: repeats the question at line {seen[normalized]}")
            seen[normalized] = key_lines.get("paraphrases", line)
            questions.append(EvalQuestion(paraphrase, samples, judge, seen[normalized]))
    return questions
