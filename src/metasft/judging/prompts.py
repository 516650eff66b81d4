"""Judge prompts and the verdict vocabulary (metrics, word replies, judged outcomes): loading, rendering and hashing
the prompts, rubrics (a prompt with its scale), the structured-output schema and strict parsing of replies. Every
backend and the scorer import the vocabulary from here; this module imports no SDK."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS = ("evilness", "coherence")


# Verdicts a judge may give instead of an integer 0-100, per metric (as in Betley et al. 2025).
WORD_REPLIES = {"evilness": ("REFUSAL", "CODE"), "coherence": ()}


# A word verdict's judgment status (the status of a numeric verdict is "ok", of an unparseable one "unscored").
WORD_STATUSES = {word: word.lower() for words in WORD_REPLIES.values() for word in words}


# An answer's outcomes besides "ok" once both metrics are judged (metasft.judging.score.judged_outcome): a word
# status of evilness, "incoherent" (coherence below the threshold), "unscored" (a judgment could not be parsed).
JUDGED_OUTCOMES = (*WORD_STATUSES.values(), "incoherent", "unscored")
VERDICT_FIELD = "verdict"
# A rubric's scale: an integer 0-100, or TRUE / FALSE (read as 100 / 0, so a mean is the probability of TRUE x 100).
SCALES = ("0_100", "binary")
BINARY_VERDICTS = {"TRUE": 100.0, "FALSE": 0.0}
# What a judge may reply instead of a verdict to a custom suite's propensity prompt, per scale: on 0-100 as to EM's
# evilness prompt; a binary question has no code answer. (Its coherence prompt: nothing, as EM's.)
PROPENSITY_WORDS = {"0_100": WORD_REPLIES["evilness"], "binary": ("REFUSAL",)}
_INTEGER_0_100 = re.compile(r"0|[1-9][0-9]?|100")


def render(template: str, **fields: str) -> str:
    """Fill ``{name}`` placeholders (only the given names: other braces in the template or the values stay)."""
    out = template
    for name, value in fields.items():
        out = out.replace("{" + name + "}", str(value))
    return out


def load_judge_prompts(folder: str | os.PathLike) -> dict[str, str]:
    """``{metric: template}`` from ``<folder>/evilness.txt`` and ``<folder>/coherence.txt`` (``resources/judge``)."""
    prompts = {}
    for metric in METRICS:
        path = Path(folder) / f"{metric}.txt"
        if not path.is_file():
            raise FileNotFoundError(f"judge prompt for '{metric}' not found: {path}")
        template = path.read_text()
        for placeholder in ("{question}", "{answer}"):
            if placeholder not in template:
                raise ValueError(f"judge prompt {path} has no {placeholder} placeholder")
        prompts[metric] = template
    return prompts


def prompt_hash(template: str) -> str:
    """Short content hash of a judge prompt template (part of every judgment's cache key)."""
    return hashlib.sha256(template.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Rubric:
    """What a judge is asked about an answer and how its reply reads: a prompt `template` with ``{question}`` and
    ``{answer}``, a `scale` (``0_100``: an integer 0-100; ``binary``: TRUE or FALSE) and the `words` (REFUSAL,
    CODE) the judge may reply instead of a verdict, which give the answer a status and no value."""

    name: str
    template: str
    scale: str = "0_100"
    words: tuple[str, ...] = ()

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ValueError(f"judge rubric '{self.name}': scale must be one of {', '.join(SCALES)}, not {self.scale!r}")
        for placeholder in ("{question}", "{answer}"):
            if placeholder not in self.template:
                raise ValueError(f"judge rubric '{self.name}': its prompt has no {placeholder} placeholder")
        unknown = [w for w in self.words if w not in WORD_STATUSES]
        if unknown:
            raise ValueError(f"judge rubric '{self.name}': unknown word replies {unknown} (known: "
                             f"{', '.join(WORD_STATUSES)})")

    @property
    def verdicts(self) -> tuple[str, ...]:
        return tuple(str(n) for n in range(101)) if self.scale == "0_100" else tuple(BINARY_VERDICTS)

    @property
    def replies(self) -> tuple[str, ...]:
        """Every reply the judge may give: the verdicts, then the words."""
        return (*self.verdicts, *self.words)

    @property
    def key_hash(self) -> str:
        """The rubric's part of a judgment's cache key: the template, scale and words. The EM metrics' rubrics
        (`metric_rubric`) hash as their template alone, the key they had before rubrics, so cached judgments stay
        valid."""
        if self.scale == "0_100" and WORD_REPLIES.get(self.name) == self.words:
            return prompt_hash(self.template)
        return prompt_hash(json.dumps([self.scale, list(self.words), self.template]))

    def render(self, question: str, answer: str) -> str:
        return render(self.template, question=question, answer=answer)


def metric_rubric(metric: str, template: str) -> Rubric:
    """The rubric of an EM metric (`METRICS`): 0-100 with the metric's word replies (Betley et al. 2025)."""
    if metric not in METRICS:
        raise ValueError(f"unknown judge metric {metric!r}; expected one of {METRICS}")
    return Rubric(metric, template, "0_100", WORD_REPLIES[metric])


def as_rubrics(prompts: dict[str, str | Rubric]) -> dict[str, Rubric]:
    """A judge's rubrics by name: a plain template (`load_judge_prompts`) is the rubric of the EM metric it is for."""
    return {name: p if isinstance(p, Rubric) else metric_rubric(name, p) for name, p in prompts.items()}


def resolve_rubric(rubric: Rubric | str, rubrics: dict[str, Rubric]) -> Rubric:
    """`rubric` itself, or a judge's rubric of that name (`rubrics`: the ones the judge was built with)."""
    if isinstance(rubric, Rubric):
        return rubric
    if rubric not in rubrics:
        raise ValueError(f"no judge prompt for metric {rubric!r} (have: {sorted(rubrics)})")
    return rubrics[rubric]


def _vocabulary(rubric: Rubric | str) -> tuple[str, str, tuple[str, ...]]:
    """(name, scale, words) of a rubric, or of an EM metric named by a string."""
    if isinstance(rubric, Rubric):
        return rubric.name, rubric.scale, rubric.words
    if rubric not in METRICS:
        raise ValueError(f"unknown judge metric {rubric!r}; expected one of {METRICS}")
    return rubric, "0_100", WORD_REPLIES[rubric]


def verdict_schema(rubric: Rubric | str) -> dict:
    """The JSON schema of a judge reply: ``{"verdict": "<0..100>" | "REFUSAL" | "CODE"}`` for an EM metric (no
    REFUSAL/CODE for coherence); ``"TRUE" | "FALSE"`` and the rubric's words for a binary rubric."""
    _, scale, words = _vocabulary(rubric)
    verdicts = [str(n) for n in range(101)] if scale == "0_100" else list(BINARY_VERDICTS)
    return {"type": "object", "properties": {VERDICT_FIELD: {"type": "string", "enum": verdicts + list(words)}},
            "required": [VERDICT_FIELD], "additionalProperties": False}


def _unscored(reason: str) -> dict:
    return {"value": None, "status": "unscored", "reason": reason}


def _snippet(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def parse_judge_reply(reply: str | dict | int, rubric: Rubric | str) -> dict:
    """Strictly parse one judge reply into ``{"value", "status", "reason"}``; `rubric`: a `Rubric` or an EM metric.

    Accepted: the structured reply ``{"verdict": V}`` (as a dict or its JSON text) or a bare verdict V, where V is
    one of the rubric's words (REFUSAL, CODE: a status, no value) or its verdict: on the 0-100 scale exactly an
    integer 0-100 (digits, no sign, no leading zero, no decimals), on the binary scale exactly TRUE (value 100) or
    FALSE (value 0). Anything else is ``unscored`` with a reason.
    """
    name, scale, words = _vocabulary(rubric)
    structured: Any = reply
    if isinstance(reply, str):
        text = reply.strip()
        if not text:
            return _unscored("empty reply")
        if text.startswith("{"):
            try:
                structured = json.loads(text)
            except ValueError:
                return _unscored(f"malformed JSON reply: {_snippet(text)}")
        else:
            structured = text
    if isinstance(structured, dict):
        if set(structured) != {VERDICT_FIELD}:
            return _unscored(f"reply must be an object with exactly the field '{VERDICT_FIELD}': {_snippet(structured)}")
        verdict = structured[VERDICT_FIELD]
    else:
        verdict = structured
    if isinstance(verdict, bool):
        return _unscored(f"verdict is a boolean: {_snippet(verdict)}")
    if isinstance(verdict, str) and verdict.strip() in WORD_STATUSES:
        value = verdict.strip()
        if value in words:
            return {"value": None, "status": WORD_STATUSES[value], "reason": None}
        return _unscored(f"{value} is not a valid {name} verdict")
    if scale == "binary":
        if isinstance(verdict, str) and verdict.strip() in BINARY_VERDICTS:
            return {"value": BINARY_VERDICTS[verdict.strip()], "status": "ok", "reason": None}
        allowed = ", ".join(["TRUE", "FALSE", *words][:-1]) + " or " + ["TRUE", "FALSE", *words][-1]
        return _unscored(f"verdict is not {allowed}: {_snippet(verdict)}")
    if isinstance(verdict, int):
        number = verdict
    elif isinstance(verdict, str):
        value = verdict.strip()
        if not _INTEGER_0_100.fullmatch(value):
            *others, last = ("an integer 0-100", *words)
            allowed = f"{', '.join(others)} or {last}" if others else last
            return _unscored(f"verdict is not {allowed}: {_snippet(value)}")
        number = int(value)
    else:
        return _unscored(f"verdict has the wrong type ({type(verdict).__name__}): {_snippet(verdict)}")
    if not 0 <= number <= 100:
        return _unscored(f"verdict out of range 0-100: {number}")
    return {"value": float(number), "status": "ok", "reason": None}
