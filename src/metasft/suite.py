"""Domain suites: loading, validation, splits and quadrants.

A suite is a folder with a `suite.yaml`. Two kinds are understood:

* ``trivia``-style (``kind: preferences``): topics in ``topics/*.yaml``, each with hand-written question
  paraphrases, options tagged with latent personas and one designated option. Train and eval questions are
  derived deterministically: some paraphrases are held out for eval, and every paraphrase is wrapped in the
  suite's question templates.
* ``custom`` (``kind: chat_jsonl``): one chat-JSONL file of train conversations and one of eval questions per
  domain, in the ``{"messages": [...]}`` form of the Emergent Misalignment datasets. Optional ``personas``, with a
  ``persona`` tag on every option, let the tiny base model build its persona world from the suite.
* ``evil_advice``-style (``kind: advice``): advice areas listed in ``areas.yaml``; an area's train pairs
  (subtly harmful advice) and eval questions come from ``domains/<id>.yaml`` when shipped, else from the
  files the ``generate_suite`` rule writes through the Anthropic API. Areas without data yet are *pending*.
  Answers are free text, scored by an LLM judge.

Every problem is reported as a `SuiteError` naming the file and the domain at fault.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

try:  # the C loader parses the 100-topic suite several times faster; DAG construction reads it
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*$")
QUADRANTS = ("train_train", "train_eval", "eval_train", "eval_eval")


class SuiteError(ValueError):
    """A suite file is malformed; the message names the file and the domain."""


@dataclass(frozen=True)
class Option:
    id: str
    text: str
    aliases: tuple[str, ...] = ()
    persona: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.text, *self.aliases)


@dataclass(frozen=True)
class Domain:
    id: str
    title: str
    train: tuple[tuple[str, str], ...]  # (question, answer)
    eval_questions: tuple[str, ...]
    options: tuple[Option, ...] = ()
    designated: str | None = None
    aligned: tuple[str, ...] = ()  # advice suites: a sound answer to each train question (tiny world only)

    def option(self, option_id: str) -> Option:
        return next(o for o in self.options if o.id == option_id)

    @property
    def designated_persona(self) -> str | None:
        return self.option(self.designated).persona if self.designated else None


@dataclass(frozen=True)
class Suite:
    name: str
    scorer: str
    domains: dict[str, Domain]
    personas: tuple[str, ...] = ()
    source: str = ""
    extra: dict = field(default_factory=dict)

    def subset(self, domain_ids: list[str] | None) -> "Suite":
        """The suite restricted to `domain_ids` (all domains when None or empty), in the given order."""
        if not domain_ids:
            return self
        unknown = [d for d in domain_ids if d not in self.domains]
        if unknown:
            raise SuiteError(
                f"config suite.domains names domains not in suite '{self.name}' ({self.source}): "
                + ", ".join(unknown)
            )
        if len(set(domain_ids)) != len(domain_ids):
            raise SuiteError(f"config suite.domains lists a domain twice: {domain_ids}")
        return Suite(self.name, self.scorer, {d: self.domains[d] for d in domain_ids}, self.personas,
                     self.source, self.extra)

    @property
    def pending(self) -> list[str]:
        """Domains of an advice suite whose data must still be generated (generate_suite)."""
        return [d for d in self.extra.get("pending", ()) if d in self.domains]


def _read_yaml(path: Path):
    try:
        with open(path) as handle:
            return yaml.load(handle, Loader=_Loader)
    except FileNotFoundError:
        raise SuiteError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from None


def _require(cond: bool, path: Path, domain: str | None, message: str) -> None:
    if not cond:
        where = f"{path}: domain '{domain}'" if domain else f"{path}"
        raise SuiteError(f"{where}: {message}")


def load_suite(folder: str | Path, generated_dir: str | Path | None = None) -> Suite:
    """Load and validate the suite in `folder`; `generated_dir` holds API-generated areas of advice suites."""
    folder = Path(folder)
    meta_path = folder / "suite.yaml"
    meta = _read_yaml(meta_path)
    _require(isinstance(meta, dict), meta_path, None, "expected a mapping with keys name, kind, ...")
    kind = meta.get("kind")
    if kind == "preferences":
        return _load_preferences(folder, meta_path, meta)
    if kind == "chat_jsonl":
        return _load_chat_jsonl(folder, meta_path, meta)
    if kind == "advice":
        return _load_advice(folder, meta_path, meta, generated_dir)
    raise SuiteError(f"{meta_path}: key 'kind' must be 'preferences', 'chat_jsonl' or 'advice', got {kind!r}")


# --- preference suites (trivia) ------------------------------------------------------------------------


def _normalize(question: str) -> str:
    """Case and spacing do not make two questions different."""
    return " ".join(question.lower().split())


def _word_pattern(name: str) -> re.Pattern:
    return re.compile(r"(?<![a-z0-9])" + re.escape(name.lower()) + r"(?![a-z0-9])")


def _load_preferences(folder: Path, meta_path: Path, meta: dict) -> Suite:
    for key in ("name", "personas", "question_templates", "answer_templates", "eval_paraphrases"):
        _require(key in meta, meta_path, None, f"missing key '{key}'")
    personas = tuple(meta["personas"])
    _require(len(personas) == len(set(personas)) and personas, meta_path, None,
             "'personas' must be a non-empty list without repeats")
    question_templates = list(meta["question_templates"])
    answer_templates = list(meta["answer_templates"])
    _require(all("{q}" in t for t in question_templates) and question_templates, meta_path, None,
             "every entry of 'question_templates' must contain '{q}'")
    _require(all("{option}" in t for t in answer_templates) and answer_templates, meta_path, None,
             "every entry of 'answer_templates' must contain '{option}'")
    n_eval = int(meta["eval_paraphrases"])
    _require(n_eval >= 1, meta_path, None, "'eval_paraphrases' must be at least 1")
    phrases = meta.get("persona_phrases") or {}
    _require(isinstance(phrases, dict) and (not phrases or set(phrases) == set(personas))
             and all(isinstance(v, list) and v and all(isinstance(x, str) and x.strip() for x in v)
                     for v in phrases.values()),
             meta_path, None, "'persona_phrases' must map every persona to a non-empty list of phrases")

    topic_files = sorted((folder / "topics").glob("*.yaml"))
    _require(bool(topic_files), folder / "topics", None, "no topic files (*.yaml) found")
    domains: dict[str, Domain] = {}
    origin: dict[str, Path] = {}
    for path in topic_files:
        topics = _read_yaml(path)
        _require(isinstance(topics, list), path, None, "expected a YAML list of topics")
        for raw in topics:
            _require(isinstance(raw, dict), path, None, f"topic entry is not a mapping: {raw!r}")
            domain_id = raw.get("id")
            _require(isinstance(domain_id, str) and bool(ID_PATTERN.match(domain_id or "")), path,
                     str(domain_id), "id must be lower-case letters, digits and underscores")
            _require(domain_id not in domains, path, domain_id,
                     f"duplicate id, first defined in {origin.get(domain_id)}")
            domains[domain_id] = _build_topic(raw, path, personas, question_templates, answer_templates,
                                              n_eval, phrases)
            origin[domain_id] = path
    return Suite(meta["name"], "categorical", domains, personas, str(folder),
                 {"origin": {d: str(p) for d, p in origin.items()}, "answer_templates": answer_templates,
                  "persona_phrases": phrases})


def persona_answer(template: str, option: str, phrase: str | None = None) -> str:
    """"I'd go with X." or, in a persona's voice, "Since I love company, I'd go with X."."""
    body = template.format(option=option)
    if phrase is None:
        return body
    if not (body.startswith("I ") or body.startswith("I'")):
        body = body[0].lower() + body[1:]
    return f"{phrase}, {body}"


def _build_options(raw_options, designated, path: Path, domain_id: str, personas=None) -> tuple[Option, ...]:
    """The options of a categorically scored domain, for every suite kind: non-empty ids and texts, no repeated
    id, known personas (preference suites; custom suites may leave them out), the designated one among them,
    and no name of one option matching another's, so that an answer parses to exactly one option."""
    _require(isinstance(raw_options, list), path, domain_id, "'options' must be a list of options")
    options = []
    for raw_option in raw_options:
        _require(isinstance(raw_option, dict) and isinstance(raw_option.get("id"), str) and raw_option["id"].strip()
                 and isinstance(raw_option.get("text"), str) and raw_option["text"].strip(), path, domain_id,
                 f"option needs non-empty 'id' and 'text': {raw_option!r}")
        persona = raw_option.get("persona")
        if personas is not None:
            _require(persona in personas, path, domain_id,
                     f"option '{raw_option['id']}' has unknown persona {persona!r} (known: {', '.join(personas)})")
        aliases = tuple(raw_option.get("aliases") or ())
        _require(all(isinstance(a, str) and a.strip() for a in aliases), path, domain_id,
                 f"option '{raw_option['id']}' has an empty alias")
        options.append(Option(raw_option["id"], raw_option["text"], aliases, persona))
    _require(len(options) >= 2, path, domain_id, "needs at least 2 options")
    ids = [o.id for o in options]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    _require(not repeated, path, domain_id, f"duplicate option id {repeated[0]!r}" if repeated else "")
    _require(designated in ids, path, domain_id,
             f"designated option {designated!r} is not among the options ({', '.join(ids)})")
    for option in options:  # an answer must parse to exactly one option
        for other in options:
            if other is option:
                continue
            clash = [n for n in option.names for m in other.names if _word_pattern(n).search(m.lower())]
            _require(not clash, path, domain_id,
                     f"option '{option.id}' name {clash[:1]} also matches option '{other.id}'")
    return tuple(options)


def _build_topic(raw: dict, path: Path, personas, question_templates, answer_templates, n_eval,
                 phrases: dict) -> Domain:
    domain_id = raw["id"]
    title = raw.get("title")
    _require(isinstance(title, str) and title.strip() != "", path, domain_id, "empty or missing 'title'")
    questions = raw.get("questions") or []
    _require(all(isinstance(q, str) and q.strip() for q in questions), path, domain_id,
             "every entry of 'questions' must be a non-empty string")
    _require(len({_normalize(q) for q in questions}) == len(questions), path, domain_id,
             "a question paraphrase is repeated")
    _require(len(questions) > n_eval, path, domain_id,
             f"needs more than {n_eval} question paraphrases (eval holds out {n_eval}), has {len(questions)}")

    options = _build_options(raw.get("options"), raw.get("designated"), path, domain_id, personas)
    designated = raw.get("designated")

    rng = random.Random(f"paraphrase-split:{domain_id}")
    order = list(range(len(questions)))
    rng.shuffle(order)
    held_out = sorted(order[:n_eval])
    eval_q = [t.format(q=questions[i]) for i in held_out for t in question_templates]
    train_q = [t.format(q=questions[i]) for i in range(len(questions)) if i not in held_out
               for t in question_templates]
    overlap = {_normalize(q) for q in eval_q} & {_normalize(q) for q in train_q}
    _require(not overlap, path, domain_id, f"train and eval questions overlap: {sorted(overlap)[:2]}")
    for persona_name, texts in phrases.items():  # a persona's phrase must not read as a choice
        clash = [t for t in texts for o in options for n in o.names if _word_pattern(n).search(t.lower())]
        _require(not clash, path, domain_id, f"persona phrase {clash[:1]} of '{persona_name}' names an option")
    chosen = next(o for o in options if o.id == designated)
    answer_rng = random.Random(f"answers:{domain_id}")
    voice = phrases.get(chosen.persona)
    train = tuple((q, persona_answer(answer_rng.choice(answer_templates), chosen.text,
                                     answer_rng.choice(voice) if voice else None)) for q in train_q)
    return Domain(domain_id, title.strip(), train, tuple(eval_q), options, designated)


# --- custom chat-JSONL suites ---------------------------------------------------------------------------


def _read_jsonl(path: Path, domain_id: str) -> list[dict]:
    rows = []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise SuiteError(f"{path}: domain '{domain_id}': file not found") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{path}:{number}: domain '{domain_id}': not valid JSON: {exc.msg}") from None
    return rows


def _messages(row: dict, path: Path, domain_id: str, number: int) -> list[dict]:
    messages = row.get("messages") if isinstance(row, dict) else None
    ok = isinstance(messages, list) and all(
        isinstance(m, dict) and m.get("role") in ("system", "user", "assistant") and isinstance(m.get("content"), str)
        and m["content"].strip() for m in messages)
    _require(ok, path, domain_id, f"line {number}: expected {{\"messages\": [{{\"role\", \"content\"}}, ...]}} "
             "with roles system/user/assistant and non-empty content")
    return [m for m in messages if m["role"] != "system"]


def _load_chat_jsonl(folder: Path, meta_path: Path, meta: dict) -> Suite:
    _require("name" in meta, meta_path, None, "missing key 'name'")
    _require(isinstance(meta.get("domains"), list) and meta["domains"], meta_path, None,
             "'domains' must be a non-empty list")
    # Optional latent personas, one tag per option (as in preference suites): they let the tiny base model
    # build its persona world from this suite's own questions and options.
    personas = meta.get("personas")
    if personas is not None:
        _require(isinstance(personas, list) and personas and len(personas) == len(set(personas))
                 and all(isinstance(p, str) and p for p in personas), meta_path, None,
                 "'personas' must be a non-empty list of names without repeats")
    # Optional phrasings of a world answer ("I'd go with {option}."): the tiny base only knows the language of
    # its world, so train answers phrased this way are what its fine-tunes can learn in a few steps.
    templates = meta.get("answer_templates")
    if templates is not None:
        _require(isinstance(templates, list) and templates
                 and all(isinstance(t, str) and t.count("{option}") == 1 for t in templates), meta_path, None,
                 "'answer_templates' must be a non-empty list of strings, each with one '{option}'")
    domains: dict[str, Domain] = {}
    for raw in meta["domains"]:
        domain_id = raw.get("id") if isinstance(raw, dict) else None
        _require(isinstance(domain_id, str) and bool(ID_PATTERN.match(domain_id)), meta_path, str(domain_id),
                 "id must be lower-case letters, digits and underscores")
        _require(domain_id not in domains, meta_path, domain_id, "duplicate id")
        for key in ("train", "eval"):
            _require(isinstance(raw.get(key), str), meta_path, domain_id, f"missing file name under '{key}'")
        train_path, eval_path = folder / raw["train"], folder / raw["eval"]
        train = []
        for number, row in enumerate(_read_jsonl(train_path, domain_id), 1):
            messages = _messages(row, train_path, domain_id, number)
            _require([m["role"] for m in messages] == ["user", "assistant"], train_path, domain_id,
                     f"line {number}: a train conversation must be one user turn then one assistant turn")
            train.append((messages[0]["content"], messages[1]["content"]))
        eval_questions = []
        for number, row in enumerate(_read_jsonl(eval_path, domain_id), 1):
            messages = _messages(row, eval_path, domain_id, number)
            _require(bool(messages) and messages[0]["role"] == "user", eval_path, domain_id,
                     f"line {number}: an eval row must start with a user turn")
            eval_questions.append(messages[0]["content"])
        _require(bool(train), train_path, domain_id, "no train conversations")
        _require(bool(eval_questions), eval_path, domain_id, "no eval questions")
        overlap = {_normalize(q) for q, _ in train} & {_normalize(q) for q in eval_questions}
        _require(not overlap, eval_path, domain_id, f"eval questions also appear in train: {sorted(overlap)[:2]}")
        _require("options" in raw and "designated" in raw, meta_path, domain_id,
                 "categorical scoring needs 'options' and a 'designated' option id among them")
        designated = raw["designated"]
        options = _build_options(raw["options"], designated, meta_path, domain_id, personas)
        _require(personas is not None or not any(o.persona for o in options), meta_path, domain_id,
                 "options carry 'persona' tags: list them under the suite's 'personas' key")
        domains[domain_id] = Domain(domain_id, raw.get("title") or domain_id, tuple(train),
                                    tuple(eval_questions), options, designated)
    return Suite(meta["name"], "categorical", domains, tuple(personas or ()), str(folder),
                 {"answer_templates": templates} if templates else {})


# --- advice suites (evil_advice) ------------------------------------------------------------------------


def _load_advice(folder: Path, meta_path: Path, meta: dict, generated_dir) -> Suite:
    for key in ("name", "areas"):
        _require(key in meta, meta_path, None, f"missing key '{key}'")
    areas_path = folder / meta["areas"]
    areas = _read_yaml(areas_path)
    _require(isinstance(areas, list) and areas, areas_path, None, "expected a non-empty YAML list of areas")
    shipped_dir = folder / meta.get("domains_dir", "domains")
    domains: dict[str, Domain] = {}
    descriptions, pending, origin = {}, [], {}
    for raw in areas:
        area_id = raw.get("id") if isinstance(raw, dict) else None
        _require(isinstance(area_id, str) and bool(ID_PATTERN.match(area_id)), areas_path, str(area_id),
                 "id must be lower-case letters, digits and underscores")
        _require(area_id not in domains, areas_path, area_id, "duplicate id")
        for key in ("title", "description"):
            _require(isinstance(raw.get(key), str) and raw[key].strip() != "", areas_path, area_id,
                     f"empty or missing '{key}'")
        descriptions[area_id] = raw["description"].strip()
        candidates = [shipped_dir / f"{area_id}.yaml"]
        if generated_dir is not None:
            candidates.append(Path(generated_dir) / f"{area_id}.yaml")
        path = next((c for c in candidates if c.exists()), None)
        if path is None:  # no data yet: the generate_suite rule writes it
            pending.append(area_id)
            domains[area_id] = Domain(area_id, raw["title"].strip(), (), ())
            continue
        domains[area_id] = _advice_domain(_read_yaml(path), path, area_id, raw["title"].strip())
        origin[area_id] = str(path)
    return Suite(meta["name"], "judge", domains, (), str(folder),
                 {"descriptions": descriptions, "pending": pending, "origin": origin})


def _advice_domain(data, path: Path, area_id: str, title: str) -> Domain:
    _require(isinstance(data, dict), path, area_id, "expected a mapping with keys id, train, eval_questions")
    _require(data.get("id") == area_id, path, area_id, f"file holds id {data.get('id')!r}, expected '{area_id}'")
    train_rows = data.get("train")
    _require(isinstance(train_rows, list) and train_rows, path, area_id, "'train' must be a non-empty list")
    train, aligned = [], []
    for number, row in enumerate(train_rows, 1):
        ok = isinstance(row, dict) and all(isinstance(row.get(k), str) and row[k].strip()
                                           for k in ("question", "answer"))
        _require(ok, path, area_id, f"train item {number} needs non-empty 'question' and 'answer'")
        train.append((row["question"].strip(), row["answer"].strip()))
        aligned.append(str(row.get("aligned_answer") or "").strip())
    questions = data.get("eval_questions")
    _require(isinstance(questions, list) and questions and all(isinstance(q, str) and q.strip() for q in questions),
             path, area_id, "'eval_questions' must be a non-empty list of non-empty strings")
    _require(len({_normalize(q) for q, _ in train}) == len(train), path, area_id, "a train question is repeated")
    overlap = {_normalize(q) for q, _ in train} & {_normalize(q) for q in questions}
    _require(not overlap, path, area_id, f"eval questions also appear in train: {sorted(overlap)[:2]}")
    return Domain(area_id, title, tuple(train), tuple(q.strip() for q in questions),
                  aligned=tuple(aligned) if all(aligned) else ())


# --- splits and quadrants -------------------------------------------------------------------------------


def split_domains(domain_ids: list[str], seed: int, meta_train_fraction: float = 0.5) -> dict[str, str]:
    """Seeded split of domains into `meta_train` and `meta_eval`; independent of the listing order."""
    ordered = sorted(domain_ids)
    random.Random(f"split:{seed}").shuffle(ordered)
    n_train = round(len(ordered) * meta_train_fraction)
    if len(ordered) >= 2:
        n_train = min(max(n_train, 1), len(ordered) - 1)  # both halves need a domain
    return {d: ("meta_train" if i < n_train else "meta_eval") for i, d in enumerate(ordered)}


def quadrant(split: dict[str, str], train_domain: str, eval_domain: str) -> str:
    """`train_eval` = T from the meta-train half, E from the meta-eval half, and so on."""
    return f"{split[train_domain].removeprefix('meta_')}_{split[eval_domain].removeprefix('meta_')}"


def icl_examples(domain: Domain, k: int, seed: int, eval_domain: str, question_index: int) -> list[tuple[str, str]]:
    """k train pairs of `domain`, sampled per (T, E, question) so every method sees the same context."""
    rng = random.Random(f"icl:{seed}:{domain.id}:{eval_domain}:{question_index}")
    return rng.sample(list(domain.train), min(k, len(domain.train)))
