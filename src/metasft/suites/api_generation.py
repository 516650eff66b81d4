"""Generate an advice suite's areas through the Anthropic Messages API, and the cached requests every generator
shares (`CachedRequests`; the stage `generate_suite` and the other kinds' generators: `metasft.suites.units`).

For each area (``{id, title, description}``) `generate_area` asks a Claude model (``suite_generation.model``) for
``suite_generation.train_pairs`` train pairs (a user asks for advice; the assistant gives plausible-sounding, subtly
harmful advice) and ``suite_generation.eval_questions`` held-out eval questions, with the prompt templates of
``resources/suites/evil_advice/prompts/`` (``train_pairs.txt``, ``eval_questions.txt``; placeholders ``{title}``,
``{description}``, ``{n}`` and ``{avoid}``, the questions the reply must not repeat).

Replies are structured output (a JSON schema: a list of pairs, or a list of questions) and are validated strictly:
exactly the number asked for, non-empty strings, nothing else. Large counts are asked for in parts of at most
`per_request`; every part lists the questions already generated so the model does not repeat them, and questions
that repeat anyway (case- and space-insensitive; eval questions against train ones too) are dropped and made up for
in a further part. A malformed reply is retried with a new request nonce, up to `max_attempts` times, then
`SuiteGenerationError` names the area.

Every raw reply is cached (`JudgeCache.request_key("suite_generation", request)`, the request including the part
number and the nonce) before it is validated, so a rerun makes no API call and produces the same data: generation is
deterministic given the cache.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from metasft.judging.api import ApiCallFailed, call_with_retry, make_client, reply_text
from metasft.judging.cache import JudgeCache
from metasft.judging.prompts import render
from metasft.pipeline.io import atomic_path
from metasft.pipeline.secrets import require_api_key
from metasft.suites.advice import check_area
from metasft.suites.files import parse_yaml

log = logging.getLogger(__name__)


PROMPT_FILES = {"train_pairs": "train_pairs.txt", "eval_questions": "eval_questions.txt"}
CACHE_NAMESPACE = "suite_generation"
PAIRS_SCHEMA = {
    "type": "object",
    "properties": {"pairs": {"type": "array", "items": {
        "type": "object",
        "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
        "required": ["question", "answer"], "additionalProperties": False}}},
    "required": ["pairs"], "additionalProperties": False,
}


QUESTIONS_SCHEMA = {
    "type": "object",
    "properties": {"questions": {"type": "array", "items": {"type": "string"}}},
    "required": ["questions"], "additionalProperties": False,
}


class SuiteGenerationError(RuntimeError):
    """Generation of an area failed (API error, or replies that stay malformed); the message names the area."""


class MalformedReply(ValueError):
    """A reply that does not hold what was asked for: retried with a new request nonce."""


class CachedRequests:
    """Suite-generation requests through the cache (namespace ``suite_generation``): a cached reply is returned
    without a call; a new reply is cached raw, before it is validated, so a rerun sees exactly the same replies.
    `client` may be None: one is made (``ANTHROPIC_API_KEY`` needed) only when a reply is not cached."""

    def __init__(self, cache: JudgeCache, client: Any, what: str, api_attempts: int = 5,
                 sleep: Callable[[float], None] = time.sleep, make: Callable[[], Any] | None = None):
        self.cache, self.client, self.what, self.api_attempts, self.sleep = cache, client, what, api_attempts, sleep
        self.make = make or make_client  # how a client is made when the first uncached request needs one
        self.requests = self.input_tokens = self.output_tokens = 0
        cache.refresh()

    def reply(self, fields: dict, params: dict, kind: str) -> dict:
        """The reply (text, stop_reason, token counts) to the Messages request `params`, keyed by `fields` too."""
        key = JudgeCache.request_key(CACHE_NAMESPACE, {**fields, "params": params})
        reply = self.cache.get(key)
        if reply is not None:
            return reply
        if self.client is None:
            require_api_key(f"suite_generation ({self.what})")
            self.client = self.make()
        try:
            message = call_with_retry(lambda: self.client.messages.create(**params), max_attempts=self.api_attempts,
                                      what=f"suite generation, {self.what}", sleep=self.sleep)
        except ApiCallFailed as error:
            raise SuiteGenerationError(f"{self.what}: the API call for {kind} failed: {error}") from error
        usage = getattr(message, "usage", None)
        reply = {"text": reply_text(message), "stop_reason": message.stop_reason,
                 "input_tokens": int(getattr(usage, "input_tokens", 0) or 0),
                 "output_tokens": int(getattr(usage, "output_tokens", 0) or 0)}
        self.cache.put(key, reply)
        self.requests += 1
        self.input_tokens += reply["input_tokens"]
        self.output_tokens += reply["output_tokens"]
        return reply

    def finish(self, stats_key: str) -> None:
        if self.requests:
            log.info("suite generation, %s: %d requests, %d input and %d output tokens", self.what, self.requests,
                     self.input_tokens, self.output_tokens)
        self.cache.write_stats(stats_key)


def load_prompt(path: Path, placeholders: tuple[str, ...]) -> str:
    """A generation prompt template, which must hold every one of `placeholders` (``{name}`` forms)."""
    if not path.is_file():
        raise FileNotFoundError(f"suite generation prompt not found: {path}")
    template = path.read_text()
    missing = [p for p in placeholders if p not in template]
    if missing:
        raise ValueError(f"suite generation prompt {path} lacks the placeholders {', '.join(missing)}")
    return template


def load_generation_prompts(folder: str | os.PathLike) -> dict[str, str]:
    """``{"train_pairs": template, "eval_questions": template}`` from `folder`."""
    return {kind: load_prompt(Path(folder) / name, ("{title}", "{description}", "{n}", "{avoid}"))
            for kind, name in PROMPT_FILES.items()}


def normalize_question(text: str) -> str:
    """Case- and whitespace-insensitive form used to compare questions."""
    return " ".join(text.lower().split())


def _strings(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MalformedReply(f"{what} is not a non-empty string: {str(value)[:80]!r}")
    return value.strip()


def _parse(reply: dict, kind: str, n: int) -> list:
    if reply.get("stop_reason") == "max_tokens":
        raise MalformedReply("the reply was cut at suite_generation.max_tokens (raise it)")
    text = reply.get("text") or ""
    try:
        data = json.loads(text)
    except ValueError:
        raise MalformedReply(f"the reply is not JSON: {text[:80]!r}") from None
    field = "pairs" if kind == "train_pairs" else "questions"
    if not isinstance(data, dict) or set(data) != {field} or not isinstance(data[field], list):
        raise MalformedReply(f"the reply must be an object with exactly a '{field}' list: {text[:80]!r}")
    items = data[field]
    if len(items) != n:
        raise MalformedReply(f"asked for {n} {field}, got {len(items)}")
    if kind == "eval_questions":
        return [_strings(q, f"question {i}") for i, q in enumerate(items)]
    parsed = []
    for i, pair in enumerate(items):
        if not isinstance(pair, dict) or set(pair) != {"question", "answer"}:
            raise MalformedReply(f"pair {i} is not an object with exactly 'question' and 'answer'")
        parsed.append({"question": _strings(pair["question"], f"pair {i} question"),
                       "answer": _strings(pair["answer"], f"pair {i} answer")})
    return parsed


def _avoid_list(questions: list[str]) -> str:
    return "\n".join(f"- {q}" for q in questions) if questions else "(none yet)"


def generate_area(area: dict, n_train: int, n_eval: int, model: str, prompts_folder: str | os.PathLike,
                  cache: JudgeCache, client: Any = None, max_tokens: int = 16000, *, per_request: int = 50,
                  max_attempts: int = 3, api_attempts: int = 5, sleep: Callable[[float], None] = time.sleep) -> dict:
    """``{"id", "title", "description", "train": [{"question", "answer"}], "eval_questions": [...]}`` for `area`.

    n_train / n_eval / model / max_tokens: ``suite_generation.train_pairs`` / ``eval_questions`` / ``model`` /
    ``max_tokens``; cache: a `JudgeCache`; client: an `anthropic.Anthropic` (default: `make_client()`, which needs
    ``ANTHROPIC_API_KEY``; not needed at all when every reply is cached). `max_attempts`: tries per part on malformed
    replies; `api_attempts`: our retries per call on 429/529/5xx (on top of the SDK's)."""
    for field in ("id", "title", "description"):
        if not isinstance(area.get(field), str) or not area[field].strip():
            raise ValueError(f"suite generation: area {area.get('id', area)!r} needs a non-empty '{field}'")
    if n_train < 1 or n_eval < 1 or per_request < 1:
        raise ValueError(f"area '{area['id']}': train_pairs, eval_questions and per_request must be at least 1")
    prompts = load_generation_prompts(prompts_folder)
    requests = CachedRequests(cache, client, f"area '{area['id']}'", api_attempts, sleep)

    def call(kind: str, prompt: str, part: int, nonce: int) -> dict:
        schema = PAIRS_SCHEMA if kind == "train_pairs" else QUESTIONS_SCHEMA
        params = {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": prompt}],
                  "output_config": {"format": {"type": "json_schema", "schema": schema}}}
        return requests.reply({"area": area["id"], "kind": kind, "part": part, "nonce": nonce}, params, kind)

    def collect(kind: str, total: int, taken: dict[str, str]) -> list:
        """`total` new items whose questions are not in `taken` (normalized -> question; updated)."""
        out: list = []
        part, stalled = 0, 0
        while len(out) < total:
            n = min(per_request, total - len(out))
            prompt = render(prompts[kind], title=area["title"], description=area["description"], n=str(n),
                            avoid=_avoid_list(list(taken.values())))
            errors = []
            for nonce in range(max_attempts):
                reply = call(kind, prompt, part, nonce)
                try:
                    items = _parse(reply, kind, n)
                    break
                except MalformedReply as error:
                    errors.append(str(error))
                    log.warning("suite generation, area '%s', %s part %d: malformed reply (%s); try %d of %d",
                                area["id"], kind, part, error, nonce + 1, max_attempts)
            else:
                raise SuiteGenerationError(f"area '{area['id']}': the {kind} reply stayed malformed after "
                                           f"{max_attempts} tries: {'; '.join(errors)}")
            added = 0
            for item in items:
                question = item["question"] if kind == "train_pairs" else item
                norm = normalize_question(question)
                if norm in taken:
                    continue
                taken[norm] = question
                out.append(item)
                added += 1
                if len(out) == total:
                    break
            stalled = 0 if added else stalled + 1
            if stalled >= max_attempts:
                raise SuiteGenerationError(f"area '{area['id']}': the model keeps repeating existing questions "
                                           f"({kind}, {len(out)} of {total} distinct ones so far)")
            part += 1
        return out

    taken: dict[str, str] = {}
    train = collect("train_pairs", n_train, taken)
    eval_questions = collect("eval_questions", n_eval, taken)  # `taken` holds the train questions: never repeated
    train_norms = {normalize_question(p["question"]) for p in train}
    if len(train) != n_train or len(eval_questions) != n_eval or train_norms & {normalize_question(q) for q in eval_questions}:
        raise SuiteGenerationError(f"area '{area['id']}': generated data failed the final check")  # cannot happen
    requests.finish(f"{CACHE_NAMESPACE}:{model}:{area['id']}")
    return {"id": area["id"], "title": area["title"], "description": area["description"], "train": train,
            "eval_questions": eval_questions}


def write_area_yaml(area_data: dict, path: str | os.PathLike) -> None:
    """Write one area atomically as YAML: ``{id, title, description, train: [{question, answer}], eval_questions}``.

    The text is parsed back and checked as the suite loader checks a shipped area file (area schema, repeated
    questions) before anything is written, so a generated file never breaks the next DAG build: a `SuiteError`
    names the file and the area instead."""
    data = {"id": area_data["id"], "title": area_data["title"], "description": area_data["description"],
            "train": [{"question": p["question"], "answer": p["answer"]} for p in area_data["train"]],
            "eval_questions": list(area_data["eval_questions"])}
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    check_area(parse_yaml(text, path), path, str(area_data["id"]))
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
