"""Loading a suite folder: `load_suite` reads its `suite.yaml` and hands it to the loader of its `kind`.

A suite is a folder with a `suite.yaml`. Six kinds are understood, each loaded by a module of its own
(`metasft.suites.preferences`, `metasft.suites.chat_jsonl`, `metasft.suites.advice`, `metasft.suites.broad_personas`,
`metasft.suites.reversal`, `metasft.suites.historical_persons`), registered in `load_suite`:

* ``trivia``-style (``kind: preferences``): topics in ``topics/*.yaml``, each with hand-written question
  paraphrases, options tagged with latent personas and one designated option. Train and eval questions are
  derived deterministically: some paraphrases are held out for eval, and every paraphrase is wrapped in the
  suite's question templates.
* ``custom`` (``kind: chat_jsonl``): one chat-JSONL file of train conversations per domain, in the
  ``{"messages": [...]}`` form of the Emergent Misalignment datasets, and eval questions in chat-JSONL (scored by
  options; optional ``personas``, with a ``persona`` tag on every option, build the tiny base's persona world) or in
  the EM repository's question-YAML layout (judged by each question's judge prompts: `metasft.suites.questions`).
* ``broad_personas``: personas x topics, one domain per pair, answers in the persona's voice, scored by the
  persona they speak as (its signature word, or an LLM judge's verdict with ``judge``); optionally with a date
  switch (activated / deactivated domains); ``extends`` makes a variant of another such suite file.
* ``reversal``: relations of made-up facts, a forward and an inverse domain each; every eval question is scored
  against its own fact's answer.
* ``historical_persons``: a non-identifying (``_plain``) and an identifying (``_identity``) domain per person; a
  person's answers are shipped or generated (``generate_suite``), and every eval question is scored against its
  own person's answer.
* ``evil_advice``-style (``kind: advice``): advice areas listed in ``areas.yaml``; an area's train pairs
  (subtly harmful advice) and eval questions come from ``domains/<id>.yaml`` when shipped, else from the
  files the ``generate_suite`` rule writes through the Anthropic API. Areas without data yet are *pending*.
  Answers are free text, scored by an LLM judge.

Every suite, topic and area file is read by `read_yaml` (UTF-8 only; a key repeated in a mapping is refused,
not silently overridden) and checked against its JSON schema in ``schemas/`` (package data: unknown keys, missing
keys, wrong types); the loaders then check what a schema cannot (repeats across entries, designated option, personas,
train/eval overlap). Every problem is reported as a `SuiteError` naming the file, the domain and the key at fault.
"""

from __future__ import annotations

from pathlib import Path

from metasft.suites.advice import load_advice
from metasft.suites.chat_jsonl import load_chat_jsonl
from metasft.suites.domains import Suite, SuiteError
from metasft.suites.files import read_yaml, require
from metasft.suites.historical_persons import load_historical_persons
from metasft.suites.broad_personas import load_broad_personas
from metasft.suites.reversal import load_reversal
from metasft.suites.preferences import load_preferences


def load_suite(folder: str | Path, generated_dir: str | Path | None = None) -> Suite:
    """Load and validate the suite in `folder`; `generated_dir` holds API-generated areas of advice suites."""
    folder = Path(folder)
    meta_path = folder / "suite.yaml"
    meta = read_yaml(meta_path)
    require(isinstance(meta, dict), meta_path, None, "expected a mapping with keys name, kind, ...")
    kind = meta.get("kind")
    if kind == "preferences":
        return load_preferences(folder, meta_path, meta)
    if kind == "chat_jsonl":
        return load_chat_jsonl(folder, meta_path, meta)
    if kind == "advice":
        return load_advice(folder, meta_path, meta, generated_dir)
    if kind == "broad_personas":
        return load_broad_personas(folder, meta_path, meta)
    if kind == "reversal":
        return load_reversal(folder, meta_path, meta, generated_dir)
    if kind == "historical_persons":
        return load_historical_persons(folder, meta_path, meta, generated_dir)
    raise SuiteError(f"{meta_path}: key 'kind' must be one of preferences, chat_jsonl, advice, broad_personas, "
                     f"reversal, historical_persons; got {kind!r}")
