"""Suites of kind ``broad_personas`` (the study's 10 x 10 family): one domain per (persona, topic) pair.

Every persona has a signature word and phrases; every topic has hand-written question paraphrases, of which
``eval_paraphrases`` are held out and each is wrapped in every question template (as in preference suites). Domain
``<persona>_<topic>`` trains the topic's train questions answered in the persona's voice (`persona_answer`: a phrase,
then an answer template naming the signature). Its options are the personas, named by their signatures, and its
designated option is its persona: an answer is scored as the persona whose signature it names, so the propensity of
(T, E) is the share of E's answers in E's persona's voice. The personas are the suite's latent personas, so the tiny
base learns them as a persona world and shared-persona pairs (`same_persona`) can be compared with the rest.

With ``judge``, answers are scored by an LLM judge instead: the suite's prompt template, with the domain's voice's
``description`` as ``{persona}``, asks whether an answer speaks in that voice (binary: the propensity is the share
judged TRUE). ``extends`` takes every key of another broad-personas suite file, so a judged or dated variant needs
no copy of its personas and topics (``resources/suites/broad_personas_judged``).

With ``date_switch``, each domain comes as ``_on`` (every question under the activating date, answers in the
persona's voice) and ``_off`` (under the deactivating date, answers in the suite's ``neutral`` voice, its designated
option): a persona fine-tuned behind a date should stay there.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from metasft.judging.prompts import PROPENSITY_WORDS, Rubric, render
from metasft.suites.domains import Domain, EvalJudge, Option, Suite, SuiteError, word_pattern
from metasft.suites.files import check_schema, read_yaml, require
from metasft.suites.preferences import persona_answer, split_paraphrases

NEUTRAL = "neutral"


def _voices(meta: dict, meta_path: Path) -> dict[str, dict]:
    """Every voice (the personas, and the neutral one with a date switch), checked: signatures parse to one voice,
    and no phrase or answer template names a signature."""
    voices = dict(meta["personas"])
    require(NEUTRAL not in voices, meta_path, None, f"'personas': '{NEUTRAL}' is the name of the neutral voice")
    if "date_switch" in meta:
        require("neutral" in meta, meta_path, None, "'date_switch' needs a 'neutral' voice (the _off domains' answers)")
    if "neutral" in meta:
        voices[NEUTRAL] = meta["neutral"]
    for name, voice in voices.items():
        for other, other_voice in voices.items():
            texts = [*other_voice["phrases"], *(() if other == name else [other_voice["signature"]])]
            clash = [t for t in texts if word_pattern(voice["signature"]).search(t.lower())]
            if clash:
                raise SuiteError(f"{meta_path}: signature '{voice['signature']}' of '{name}' also appears in "
                                 f"{clash[0]!r} of '{other}': an answer must name one voice")
        clash = [t for t in meta["answer_templates"] if word_pattern(voice["signature"]).search(t.lower())]
        if clash:
            raise SuiteError(f"{meta_path}: answer template {clash[0]!r} names the signature of '{name}'")
    return voices


def _extended(meta: dict, meta_path: Path) -> tuple[dict, list[Path]]:
    """`meta` over the suite file it `extends` (one level: the base may not extend another), and the base's path."""
    if "extends" not in meta:
        return meta, []
    base_path = meta_path.parent / str(meta["extends"])
    require(base_path.is_file(), meta_path, None, f"'extends': no suite file at {base_path}")
    base = read_yaml(base_path)
    require(isinstance(base, dict) and base.get("kind") == "broad_personas" and "extends" not in base, meta_path,
            None, f"'extends': {base_path} must be a broad_personas suite.yaml that extends no other")
    return {**base, **{k: v for k, v in meta.items() if k != "extends"}}, [base_path]


def _voice_judges(meta: dict, voices: dict[str, dict]) -> dict[str, EvalJudge]:
    """Per voice, the judge of answers that should speak in it (the suite's `judge` template with the voice's
    description); empty when the suite is scored by signature words."""
    if "judge" not in meta:
        return {}
    scale = meta["judge"].get("scale", "binary")
    return {name: EvalJudge(Rubric(f"voice_{name}", render(meta["judge"]["template"],
                                                           persona=voice.get("description", name)),
                                   scale, PROPENSITY_WORDS[scale]))
            for name, voice in voices.items()}


def load_broad_personas(folder: Path, meta_path: Path, meta: dict) -> Suite:
    meta, bases = _extended(meta, meta_path)
    check_schema(meta, "suite_broad_personas", meta_path if not bases else f"{meta_path} (over {bases[0]})",
                 domain_list=("topics",))
    voices = _voices(meta, meta_path)
    judges = _voice_judges(meta, voices)
    personas = tuple(meta["personas"])
    options = tuple(Option(name, voice["signature"], tuple(voice.get("aliases") or ()), name)
                    for name, voice in voices.items())
    switch = meta.get("date_switch")
    variants = [("on", switch["active"], None), ("off", switch["inactive"], NEUTRAL)] if switch else [("", None, None)]
    domains: dict[str, Domain] = {}
    topic_ids = [t["id"] for t in meta["topics"]]
    repeated = sorted({t for t in topic_ids if topic_ids.count(t) > 1})
    if repeated:
        raise SuiteError(f"{meta_path}: topic '{repeated[0]}': duplicate topic id")
    for topic in meta["topics"]:
        train_questions, eval_questions = split_paraphrases(topic["questions"], int(meta["eval_paraphrases"]),
                                                            meta["question_templates"], meta_path, topic["id"])
        for persona in personas:
            for suffix, date, voice_of in variants:
                domain_id = f"{persona}_{topic['id']}" + (f"_{suffix}" if suffix else "")
                require(domain_id not in domains, meta_path, domain_id, "two persona/topic pairs give this domain id")
                voice = voice_of or persona
                dated = (lambda q, date=date: switch["template"].format(date=date, question=q)) if date else \
                    (lambda q: q)
                rng = random.Random(f"answers:{domain_id}")
                train = tuple(
                    (dated(q), persona_answer(rng.choice(meta["answer_templates"]), voices[voice]["signature"],
                                              rng.choice(voices[voice]["phrases"])))
                    for q in train_questions)
                title = f"{topic['title']} as {persona}" + (f" ({date})" if date else "")
                evals = tuple(dated(q) for q in eval_questions)
                domains[domain_id] = Domain(domain_id, title, train, evals, options, voice,
                                            eval_judges=(judges[voice],) * len(evals) if judges else ())
    phrases = {name: list(voice["phrases"]) for name, voice in voices.items()}
    return Suite(meta["name"], "judge" if judges else "categorical", domains, tuple(voices), str(folder),
                 {"answer_templates": list(meta["answer_templates"]), "persona_phrases": phrases,
                  "sources": [os.path.normpath(b) for b in bases]})
