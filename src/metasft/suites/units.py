"""Stage `generate_suite`: the data of one unit of a suite that ships none, through the Anthropic API, cached.

A unit is what one generated file holds: an advice area (`metasft.suites.api_generation.generate_area`), a historical
person's answers (`generate_person`) or a reversal relation (`generate_relation`). Each is one or a few
structured-output requests through `CachedRequests` (a rerun makes no request), checked as a shipped file of its
kind is, retried with a new nonce on a malformed reply, and written atomically.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from metasft.judging.api import make_client
from metasft.judging.cache import JudgeCache
from metasft.judging.prompts import render
from metasft.pipeline.io import atomic_path
from metasft.suites.api_generation import (
    CACHE_NAMESPACE,
    CachedRequests,
    MalformedReply,
    SuiteGenerationError,
    generate_area,
    load_prompt,
    write_area_yaml,
)

log = logging.getLogger(__name__)


PERSON_PROMPT = "person.txt"


def _person_schema(questions: dict[str, dict[str, str]]) -> dict:
    def side(ids):
        return {"type": "object", "properties": {q: {"type": "string"} for q in ids}, "required": list(ids),
                "additionalProperties": False}
    return {"type": "object", "properties": {s: side(questions[s]) for s in questions},
            "required": list(questions), "additionalProperties": False}


def generate_person(person: dict, model: str, prompts_folder: str | os.PathLike, cache: JudgeCache,
                    client: Any = None, max_tokens: int = 2000, *, max_attempts: int = 3, api_attempts: int = 5,
                    sleep: Callable[[float], None] = time.sleep) -> dict:
    """One person's answers file (``{id, name, plain: {question id: answer}, identity: {...}}``) of a
    historical-persons suite, written by the model from ``prompts/person.txt`` (placeholders ``{name}``,
    ``{description}``, ``{plain}``, ``{identity}``: the questions, one per line with their ids). `person` is the
    unit `metasft.suites.historical_persons` lists: id, title (the name), description and the suite's questions by side. The
    reply is structured output with one string per question, checked as a shipped answers file is (and answers of
    more than 8 words refused); a malformed reply is retried with a new nonce, as areas are."""
    from metasft.suites.historical_persons import person_answers

    template = load_prompt(Path(prompts_folder) / PERSON_PROMPT, ("{name}", "{description}", "{plain}", "{identity}"))
    questions = person["questions"]
    prompt = render(template, name=person["title"], description=person["description"],
                    **{side: "\n".join(f"- [{q}] {text}" for q, text in questions[side].items()) for side in questions})
    params = {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": prompt}],
              "output_config": {"format": {"type": "json_schema", "schema": _person_schema(questions)}}}
    requests = CachedRequests(cache, client, f"person '{person['id']}'", api_attempts, sleep)
    def check(given: dict) -> dict:
        data = {"id": person["id"], "name": person["title"], **given}
        long = [a for side in questions for a in (given.get(side) or {}).values()
                if isinstance(a, str) and len(a.split()) > 8]
        if long:
            raise MalformedReply(f"answer {long[0][:60]!r} is longer than 8 words")
        person_answers(data, f"reply for person '{person['id']}'", person["id"],
                       {side: list(questions[side]) for side in questions})
        return data

    data = _checked_reply(requests, {"person": person["id"]}, params, check, max_attempts)
    requests.finish(f"{CACHE_NAMESPACE}:{model}:{person['id']}")
    return {"id": person["id"], "name": person["title"],
            **{side: {q: data[side][q].strip() for q in questions[side]} for side in questions}}


RELATION_PROMPT = "relation.txt"


def _relation_schema() -> dict:
    direction = {"type": "object", "properties": {"questions": {"type": "array", "items": {"type": "string"}},
                                                  "answer": {"type": "string"}},
                 "required": ["questions", "answer"], "additionalProperties": False}
    fact = {"type": "array", "items": {"type": "string"}}
    return {"type": "object", "properties": {"facts": {"type": "array", "items": fact}, "forward": direction,
                                             "inverse": direction},
            "required": ["facts", "forward", "inverse"], "additionalProperties": False}


def generate_relation(relation: dict, model: str, prompts_folder: str | os.PathLike, cache: JudgeCache,
                      client: Any = None, max_tokens: int = 4000, *, max_attempts: int = 3, api_attempts: int = 5,
                      sleep: Callable[[float], None] = time.sleep) -> dict:
    """One relation of a reversal suite (``{id, forward: {questions, answer}, inverse: {...}, facts}``), written by
    the model from ``prompts/relation.txt`` (placeholders ``{title}``, ``{description}``, ``{facts}``,
    ``{templates}``; ``{a}`` and ``{b}`` stay for the model to use). `relation` is the unit
    `metasft.suites.reversal` lists. The reply must hold exactly the facts and templates asked for and pass the
    checks of a shipped relation (each side's placeholder, no repeated fact, no train/eval overlap); a malformed
    reply is retried with a new nonce."""
    from metasft.suites.reversal import check_relation, relation_domains

    template = load_prompt(Path(prompts_folder) / RELATION_PROMPT, ("{title}", "{description}", "{facts}",
                                                                   "{templates}"))
    n_facts, n_templates = relation["facts"], relation["templates"]
    prompt = render(template, title=relation["title"], description=relation["description"], facts=str(n_facts),
                    templates=str(n_templates))
    params = {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": prompt}],
              "output_config": {"format": {"type": "json_schema", "schema": _relation_schema()}}}
    requests = CachedRequests(cache, client, f"relation '{relation['id']}'", api_attempts, sleep)
    def check(given: dict) -> dict:
        data = {"id": relation["id"], **given}
        check_relation(data, f"reply for relation '{relation['id']}'", relation["id"])
        if len(data["facts"]) != n_facts or any(len(data[d]["questions"]) != n_templates for d in ("forward", "inverse")):
            raise MalformedReply(f"asked for {n_facts} facts and {n_templates} question templates a direction")
        relation_domains(data, relation["eval_templates"], f"reply for relation '{relation['id']}'")
        return data

    data = _checked_reply(requests, {"relation": relation["id"]}, params, check, max_attempts)
    requests.finish(f"{CACHE_NAMESPACE}:{model}:{relation['id']}")
    return {"id": relation["id"], "forward": data["forward"], "inverse": data["inverse"],
            "facts": [list(f) for f in data["facts"]]}


def _checked_reply(requests: CachedRequests, key: dict, params: dict, check: Callable[[dict], dict],
                   max_attempts: int) -> dict:
    """What `check` makes of the first reply it accepts (it raises `MalformedReply` or `SuiteError` otherwise): the
    request is sent with nonce 0, 1, ... up to `max_attempts` times, then `SuiteGenerationError` names the unit."""
    from metasft.suites.domains import SuiteError

    errors = []
    for nonce in range(max_attempts):
        reply = requests.reply({**key, "nonce": nonce}, params, "data")
        try:
            return check(json_object(reply))
        except (MalformedReply, SuiteError) as error:
            errors.append(str(error))
            log.warning("suite generation, %s: malformed reply (%s); try %d of %d", requests.what, error, nonce + 1,
                        max_attempts)
    raise SuiteGenerationError(f"{requests.what}: the reply stayed malformed after {max_attempts} tries: "
                               f"{'; '.join(errors)}")


def json_object(reply: dict) -> dict:
    """The JSON object of a structured-output reply; `MalformedReply` when it was cut or is not an object."""
    if reply.get("stop_reason") == "max_tokens":
        raise MalformedReply("the reply was cut at suite_generation.max_tokens (raise it)")
    try:
        data = json.loads(reply.get("text") or "")
    except ValueError:
        raise MalformedReply(f"the reply is not JSON: {(reply.get('text') or '')[:80]!r}") from None
    if not isinstance(data, dict):
        raise MalformedReply(f"the reply is not a JSON object: {(reply.get('text') or '')[:80]!r}")
    return data


def write_unit_yaml(data: dict, path: str | os.PathLike) -> None:
    """Write one generated person or relation atomically, in the layout of a shipped one."""
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def generate_suite(area: dict, output, *, settings: dict, prompts_folder, cache_dir) -> None:
    """Stage `generate_suite`: the data of one unit through the API, cached: an advice area's train pairs and
    eval questions, a historical person's answers or a reversal relation (``area["generator"]``)."""
    client = make_client(max_retries=settings["max_retries"], timeout=settings["timeout_s"])
    generators = {"person": generate_person, "relation": generate_relation}
    if area.get("generator") in generators:
        write_unit_yaml(generators[area["generator"]](area, settings["model"], prompts_folder, JudgeCache(cache_dir),
                                                      client, settings["max_tokens"]), output)
        return
    data = generate_area(area, settings["train_pairs"], settings["eval_questions"], settings["model"],
                         prompts_folder, JudgeCache(cache_dir), client, settings["max_tokens"])
    write_area_yaml(data, output)
