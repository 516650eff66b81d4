"""Domain suites: loading, validation, splits and quadrants.

A suite is a folder with a `suite.yaml`. Three kinds are understood:

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

Every suite, topic and area file is read by `read_yaml` (UTF-8 only; a key repeated in a mapping is refused,
not silently overridden) and checked against its JSON schema in ``schemas/`` (package data: unknown keys, missing
keys, wrong types); the loaders then check what a schema cannot (repeats across entries, designated option, personas,
train/eval overlap). Every problem is reported as a `SuiteError` naming the file, the domain and the key at fault.
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

    @property
    def unshipped(self) -> list[str]:
        """Domains of an advice suite that ship no data, generated yet or not: what generate_suite writes. Unlike
        `pending` it does not depend on the generated folder, so the workflow's DAG is the same before and after."""
        return [d for d in self.extra.get("unshipped", ()) if d in self.domains]


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key, line: int, first_line: int):
        super().__init__(key, line, first_line)
        self.key, self.line, self.first_line = key, line, first_line


class _UniqueKeyLoader(_Loader):
    """The safe loader, refusing a key repeated in one mapping: YAML would silently keep only the last value."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden on purpose
                    continue
                key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise _DuplicateKey(key, line, seen[key])
                    seen[key] = line
                except TypeError:  # an unhashable key: the base constructor reports it
                    continue
        return super().construct_mapping(node, deep)


def read_text(path: str | Path, domain: str | None = None) -> str:
    """The UTF-8 text of a suite file (a leading byte-order mark dropped); a `SuiteError` names the file, and the
    line and byte offset of the first byte that is not UTF-8."""
    where = f"{path}: domain '{domain}'" if domain else f"{path}"
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SuiteError(f"{where}: file not found") from None
    except OSError as exc:
        raise SuiteError(f"{where}: cannot read the file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SuiteError(f"{path}:{line}: {'domain ' + repr(domain) + ': ' if domain else ''}not UTF-8 text: byte "
                         f"0x{data[exc.start]:02x} at byte offset {exc.start} (save the file as UTF-8)") from None
    return text.removeprefix("\ufeff")


def parse_yaml(text: str, path: str | Path):
    """Parse the YAML `text` of the suite file `path`, refusing repeated keys."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as exc:
        raise SuiteError(f"{path}:{exc.line}: duplicate key {exc.key!r} (first at line {exc.first_line}); "
                         "YAML would silently keep only the last value") from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from None


def read_yaml(path: str | Path):
    """Every suite, topic and area YAML file is read here: UTF-8 only, no repeated keys."""
    return parse_yaml(read_text(path), path)


_SCHEMAS: dict = {}


def _validator(name: str):
    """The validator of the JSON schema `schemas/<name>.yaml` (package data), built once per process."""
    if name not in _SCHEMAS:
        from importlib.resources import files

        import jsonschema
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        if "registry" not in _SCHEMAS:
            folder = files("metasft") / "schemas"
            documents = {f.name: yaml.load(f.read_text(encoding="utf-8"), Loader=_Loader)
                         for f in folder.iterdir() if f.name.endswith(".yaml")}
            _SCHEMAS["documents"] = documents
            _SCHEMAS["registry"] = Registry().with_resources(
                (n, Resource.from_contents(d, default_specification=DRAFT202012)) for n, d in documents.items())
        _SCHEMAS[name] = jsonschema.Draft202012Validator(_SCHEMAS["documents"][f"{name}.yaml"],
                                                         registry=_SCHEMAS["registry"])
    return _SCHEMAS[name]


_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "array": "a list",
               "object": "a mapping", "boolean": "true or false", "null": "empty"}


def _schema_message(error) -> str:
    instance, schema, check = error.instance, error.schema, error.validator
    if check == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        unknown = [k for k in instance if k not in allowed]
        return (f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)}"
                f" (allowed: {', '.join(allowed)})" if allowed else f"unknown key {unknown[0]!r}")
    if check == "required":
        missing = [k for k in error.validator_value if k not in instance]
        return f"missing key{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)}"
    got = repr(instance)
    got = got if len(got) <= 60 else got[:57] + "..."
    if check == "type":
        wanted = [error.validator_value] if isinstance(error.validator_value, str) else error.validator_value
        message = schema.get("errorMessage") or "must be " + " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        hint = " (YAML reads unquoted yes/no/on/off/true/false as booleans and digits as numbers: quote it)" \
            if isinstance(instance, (bool, int, float)) and "string" in wanted else ""
        return f"{message}, got {got}{hint}"
    if schema.get("errorMessage"):
        return f"{schema['errorMessage']}, got {got}"
    if check == "minimum":
        return f"must be at least {error.validator_value}, got {got}"
    if check == "minItems":
        n = error.validator_value
        return f"must list at least {n} entr{'y' if n == 1 else 'ies'}, got {len(instance)}"
    if check == "uniqueItems":
        return f"has a repeated entry: {got}"
    return error.message


def _key_path(parts) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def check_schema(data, schema: str, path: str | Path, domain: str | None = None,
                 domain_list: tuple | None = None) -> None:
    """Validate the data of suite file `path` against `schemas/<schema>.yaml`; a `SuiteError` names the file, the
    domain (`domain`, or the id of the entry of the list at key path `domain_list` that holds the error), the key
    path and what is wrong with it. One error is reported, one of the earliest entry at fault; the count of others
    follows."""
    errors = list(_validator(schema).iter_errors(data))
    if not errors:
        return
    # earlier list entries first; within one mapping an unknown key first, as a misspelt key also shows as missing
    errors.sort(key=lambda e: ([(0, p) if isinstance(p, int) else (1, p) for p in e.absolute_path],
                               e.validator != "additionalProperties"))
    error = errors[0]
    parts = list(error.absolute_path)
    if domain is None and domain_list is not None and parts[:len(domain_list)] == list(domain_list) \
            and len(parts) > len(domain_list):  # inside one domain's entry: name the domain
        n, entries = len(domain_list), data
        for part in domain_list:
            entries = entries[part]
        entry = entries[parts[n]]
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(entry_id, str) and entry_id:
            domain, parts = entry_id, parts[n + 1:]
    where = f"{path}: domain '{domain}'" if domain else f"{path}"
    key = _key_path(parts)
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in this file)" \
        if len(errors) > 1 else ""
    raise SuiteError(f"{where}: {key + ': ' if key else ''}{_schema_message(error)}{more}")


def _require(cond: bool, path: Path | str, domain: str | None, message: str) -> None:
    if not cond:
        where = f"{path}: domain '{domain}'" if domain else f"{path}"
        raise SuiteError(f"{where}: {message}")


def load_suite(folder: str | Path, generated_dir: str | Path | None = None) -> Suite:
    """Load and validate the suite in `folder`; `generated_dir` holds API-generated areas of advice suites."""
    folder = Path(folder)
    meta_path = folder / "suite.yaml"
    meta = read_yaml(meta_path)
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
    check_schema(meta, "suite_preferences", meta_path)
    personas = tuple(meta["personas"])
    question_templates = list(meta["question_templates"])
    answer_templates = list(meta["answer_templates"])
    n_eval = int(meta["eval_paraphrases"])  # the schema lets 2.0 pass as an integer
    phrases = meta.get("persona_phrases") or {}
    _require(not phrases or set(phrases) == set(personas), meta_path, None,
             "'persona_phrases' must map every persona to a non-empty list of phrases")

    topic_files = sorted((folder / "topics").glob("*.yaml"))
    _require(bool(topic_files), folder / "topics", None, "no topic files (*.yaml) found")
    domains: dict[str, Domain] = {}
    origin: dict[str, Path] = {}
    for path in topic_files:
        topics = read_yaml(path)
        check_schema(topics, "topics", path, domain_list=())
        for raw in topics:
            domain_id = raw["id"]
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
    """The options of a categorically scored domain, for every suite kind, once the file's schema has checked their
    keys (at least 2 options, each with non-empty id and text): no repeated id, known personas (preference suites;
    custom suites may leave them out), the designated one among them, and no name of one option matching
    another's, so that an answer parses to exactly one option."""
    options = []
    for raw_option in raw_options:
        persona = raw_option.get("persona")
        if personas is not None:
            _require(persona in personas, path, domain_id,
                     f"option '{raw_option['id']}' has unknown persona {persona!r} (known: {', '.join(personas)})")
        options.append(Option(raw_option["id"], raw_option["text"], tuple(raw_option.get("aliases") or ()), persona))
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
    domain_id, title, questions = raw["id"], raw["title"], raw["questions"]  # checked by the topics schema
    _require(len({_normalize(q) for q in questions}) == len(questions), path, domain_id,
             "a question paraphrase is repeated")
    _require(len(questions) > n_eval, path, domain_id,
             f"needs more than {n_eval} question paraphrases (eval holds out {n_eval}), has {len(questions)}")

    designated = raw["designated"]
    options = _build_options(raw["options"], designated, path, domain_id, personas)

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


def _read_jsonl(path: Path, domain_id: str) -> list[tuple[int, dict]]:
    """(line number, row) of every non-blank line. JSON Lines end at "\\n" only: `str.splitlines` would also split
    at U+2028 or NEL, which JSON strings may hold raw, and break the row and the numbering after it."""
    rows = []
    for number, line in enumerate(read_text(path, domain_id).split("\n"), 1):
        if not line.strip(" \t\r"):
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{path}:{number}: domain '{domain_id}': not valid JSON: {exc.msg} "
                             f"(column {exc.colno})") from None
    return rows


def _messages(row: dict, path: Path, domain_id: str, number: int) -> list[dict]:
    messages = row.get("messages") if isinstance(row, dict) else None
    ok = isinstance(messages, list) and all(
        isinstance(m, dict) and m.get("role") in ("system", "user", "assistant") and isinstance(m.get("content"), str)
        and m["content"].strip() for m in messages)
    _require(ok, f"{path}:{number}", domain_id, "expected {\"messages\": [{\"role\", \"content\"}, ...]} "
             "with roles system/user/assistant and non-empty content")
    return [m for m in messages if m["role"] != "system"]


def _load_chat_jsonl(folder: Path, meta_path: Path, meta: dict) -> Suite:
    check_schema(meta, "suite_chat_jsonl", meta_path, domain_list=("domains",))
    # Optional latent personas, one tag per option (as in preference suites): they let the tiny base model
    # build its persona world from this suite's own questions and options.
    personas = meta.get("personas")
    # Optional phrasings of a world answer ("I'd go with {option}."): the tiny base only knows the language of
    # its world, so train answers phrased this way are what its fine-tunes can learn in a few steps.
    templates = meta.get("answer_templates")
    if templates is not None:
        _require(all(t.count("{option}") == 1 for t in templates), meta_path, None,
                 "'answer_templates': each must contain '{option}' exactly once")
    domains: dict[str, Domain] = {}
    for raw in meta["domains"]:
        domain_id = raw["id"]
        _require(domain_id not in domains, meta_path, domain_id, "duplicate id")
        train_path, eval_path = folder / raw["train"], folder / raw["eval"]
        train = []
        for number, row in _read_jsonl(train_path, domain_id):
            messages = _messages(row, train_path, domain_id, number)
            _require([m["role"] for m in messages] == ["user", "assistant"], f"{train_path}:{number}", domain_id,
                     "a train conversation must be one user turn then one assistant turn")
            train.append((messages[0]["content"], messages[1]["content"]))
        eval_questions = []
        for number, row in _read_jsonl(eval_path, domain_id):
            messages = _messages(row, eval_path, domain_id, number)
            _require(bool(messages) and messages[0]["role"] == "user", f"{eval_path}:{number}", domain_id,
                     "an eval row must start with a user turn")
            eval_questions.append(messages[0]["content"])
        _require(bool(train), train_path, domain_id, "no train conversations")
        _require(bool(eval_questions), eval_path, domain_id, "no eval questions")
        overlap = {_normalize(q) for q, _ in train} & {_normalize(q) for q in eval_questions}
        _require(not overlap, eval_path, domain_id, f"eval questions also appear in train: {sorted(overlap)[:2]}")
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
    check_schema(meta, "suite_advice", meta_path)
    areas_path = folder / meta["areas"]
    areas = read_yaml(areas_path)
    check_schema(areas, "areas", areas_path, domain_list=())
    shipped_dir = folder / meta.get("domains_dir", "domains")
    domains: dict[str, Domain] = {}
    descriptions, pending, unshipped, origin = {}, [], [], {}
    for raw in areas:
        area_id = raw["id"]
        _require(area_id not in domains, areas_path, area_id, "duplicate id")
        descriptions[area_id] = raw["description"].strip()
        candidates = [shipped_dir / f"{area_id}.yaml"]
        if not candidates[0].exists():
            unshipped.append(area_id)
        if generated_dir is not None:
            candidates.append(Path(generated_dir) / f"{area_id}.yaml")
        path = next((c for c in candidates if c.exists()), None)
        if path is None:  # no data yet: the generate_suite rule writes it
            pending.append(area_id)
            domains[area_id] = Domain(area_id, raw["title"].strip(), (), ())
            continue
        domains[area_id] = check_area(read_yaml(path), path, area_id, raw["title"].strip())
        origin[area_id] = str(path)
    return Suite(meta["name"], "judge", domains, (), str(folder),
                 {"descriptions": descriptions, "pending": pending, "unshipped": unshipped, "origin": origin})


def check_area(data, path: str | Path, area_id: str, title: str | None = None) -> Domain:
    """The domain of one advice area's data (an area file, shipped or generated), checked against the area schema
    and for repeated or shared questions; a `SuiteError` names the file and the area."""
    check_schema(data, "area", path, domain=area_id)
    _require(data["id"] == area_id, path, area_id, f"file holds id {data['id']!r}, expected '{area_id}'")
    train, aligned = [], []
    for row in data["train"]:
        train.append((row["question"].strip(), row["answer"].strip()))
        aligned.append(row.get("aligned_answer", "").strip())
    questions = data["eval_questions"]
    _require(len({_normalize(q) for q, _ in train}) == len(train), path, area_id, "a train question is repeated")
    overlap = {_normalize(q) for q, _ in train} & {_normalize(q) for q in questions}
    _require(not overlap, path, area_id, f"eval questions also appear in train: {sorted(overlap)[:2]}")
    return Domain(area_id, title or data.get("title", area_id), tuple(train), tuple(q.strip() for q in questions),
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
