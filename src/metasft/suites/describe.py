"""Rule `describe_domains`: plain-word descriptions of training data, written by Claude from a domain's train examples.

Preference suites describe their domains by a template (`metasft.suites.preferences.preference_description`); the other
suites (advice areas, persons, relations, personas, chat JSONL folders) have no structure to fill one from. With
config ``nl.descriptions: claude`` every domain without a description gets one: Claude reads
``nl.description_examples`` of the domain's train pairs (a seeded sample) through the prompt
``resources/descriptions/describe_domain.txt`` and answers with structured output (``{"description": ...}``).

Every request goes through `CachedRequests` (the suite generators' cache, namespace ``suite_generation``): a reply is
cached before it is checked, so a rerun makes no API call and writes the same file; the key comes from the
environment only when a reply is not cached. A reply is refused, and asked again with a new nonce, when it is empty,
longer than ``nl.description_max_words`` words, spans several lines, names another domain of the suite by its title,
or quotes one of the suite's eval questions: a description is T's alone, written before any answer is sampled, so it
can hold neither the eval domain nor a golden answer.
"""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path
from typing import Any, Callable

from metasft.judging.cache import JudgeCache
from metasft.judging.prompts import render
from metasft.suites.domains import Domain, Suite, word_pattern
from metasft.suites.api_generation import CACHE_NAMESPACE, CachedRequests, MalformedReply, SuiteGenerationError, load_prompt
from metasft.suites.units import json_object

log = logging.getLogger(__name__)

PROMPT = Path(__file__).resolve().parents[3] / "resources" / "descriptions" / "describe_domain.txt"
PLACEHOLDERS = ("{title}", "{examples}", "{max_words}")
DESCRIPTION_SCHEMA = {
    "type": "object",
    "properties": {"description": {"type": "string"}},
    "required": ["description"], "additionalProperties": False,
}


def example_pairs(domain: Domain, n: int, seed: int) -> list[tuple[str, str]]:
    """The train pairs Claude reads for `domain`: a seeded sample of n (all when it has fewer), in train order."""
    rng = random.Random(f"describe:{seed}:{domain.id}")
    chosen = sorted(rng.sample(range(len(domain.train)), min(n, len(domain.train))))
    return [domain.train[i] for i in chosen]


def format_examples(pairs: list[tuple[str, str]]) -> str:
    return "\n\n".join(f"Example {i + 1}\nUser: {q}\nAssistant: {a}" for i, (q, a) in enumerate(pairs))


def check_description(text: Any, domain: Domain, suite: Suite, max_words: int) -> str:
    """The reply's description, or MalformedReply saying why it cannot be used."""
    if not isinstance(text, str) or not text.strip():
        raise MalformedReply("the description is empty")
    text = text.strip()
    if "\n" in text:
        raise MalformedReply("the description spans several lines")
    if len(text.split()) > max_words:
        raise MalformedReply(f"the description has {len(text.split())} words, more than nl.description_max_words "
                             f"({max_words})")
    lowered = " ".join(text.lower().split())
    own = domain.title.lower()
    for other in suite.domains.values():
        title = other.title.strip().lower()
        # another domain's title, unless T's own title holds it ("finance" in "personal finance")
        if other.id != domain.id and title and title not in own and word_pattern(title).search(lowered):
            raise MalformedReply(f"the description names another domain of the suite ({other.title!r})")
        for question in other.eval_questions:
            if " ".join(question.lower().split()) in lowered:
                raise MalformedReply(f"the description quotes an eval question of '{other.id}' ({question[:60]!r})")
    return text


def describe_domain(domain: Domain, suite: Suite, *, model: str, template: str, requests: CachedRequests,
                    n_examples: int, max_words: int, seed: int, max_tokens: int = 1000, max_attempts: int = 3) -> str:
    """One domain's description, checked by `check_description`; `requests` makes (or finds cached) the calls."""
    prompt = render(template, title=domain.title, examples=format_examples(example_pairs(domain, n_examples, seed)),
                    max_words=str(max_words))
    errors = []
    for nonce in range(max_attempts):
        params = {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": prompt}],
                  "output_config": {"format": {"type": "json_schema", "schema": DESCRIPTION_SCHEMA}}}
        reply = requests.reply({"description_of": domain.id, "nonce": nonce}, params, "description")
        try:
            data = json_object(reply)
            if set(data) != {"description"}:
                raise MalformedReply("the reply must be an object with exactly a 'description'")
            return check_description(data["description"], domain, suite, max_words)
        except MalformedReply as error:
            errors.append(str(error))
            log.warning("description of domain '%s': unusable reply (%s); try %d of %d", domain.id, error,
                        nonce + 1, max_attempts)
    raise SuiteGenerationError(f"domain '{domain.id}' of suite '{suite.name}': no usable description after "
                               f"{max_attempts} tries: {'; '.join(errors)}")


def describe_domains(suite_folder, output, *, generated_dir, domains: list[str], settings: dict, model: str,
                     seed: int, cache_dir: str | os.PathLike, max_tokens: int = 1000, max_retries: int = 4,
                     timeout_s: float = 300, prompt_path: str | os.PathLike = PROMPT, client: Any = None,
                     sleep: Callable[[float], None] = time.sleep) -> dict[str, str]:
    """Rule `describe_domains`: a description for every domain of the run that has none, written as JSON
    ``{domain id: description}`` (atomically). `settings`: config ``nl`` (description_examples,
    description_max_words). The API client is made only when a reply is not cached (`client`: tests pass one)."""
    from metasft.judging.api import make_client
    from metasft.pipeline.io import write_json
    from metasft.suites.load import load_suite

    suite = load_suite(suite_folder, generated_dir).subset(domains)
    template = load_prompt(Path(prompt_path), PLACEHOLDERS)
    requests = CachedRequests(JudgeCache(cache_dir), client, f"descriptions of suite '{suite.name}'", sleep=sleep,
                              make=lambda: make_client(max_retries=max_retries, timeout=timeout_s))
    descriptions = {
        d.id: describe_domain(d, suite, model=model, template=template, requests=requests,
                              n_examples=settings["description_examples"],
                              max_words=settings["description_max_words"], seed=seed, max_tokens=max_tokens)
        for d in suite.domains.values() if d.description is None}
    requests.finish(f"{CACHE_NAMESPACE}:{model}:descriptions:{suite.name}")
    log.info("descriptions of %d domains (%d API requests, the rest from the cache)", len(descriptions),
             requests.requests)
    write_json(descriptions, output)
    return descriptions
