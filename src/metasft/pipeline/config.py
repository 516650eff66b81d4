"""Config checks that run at DAG construction (before any job), the schema's defaults, and the one builder of
settings objects from a validated config section."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import random
import re
import typing
from pathlib import Path

import yaml

from metasft.pipeline.validation import SECRET_KEY, schema_problems
from metasft.sources import FORMER_NAMES, METHODS, MODEL_METHODS, NL_SOURCES


class ConfigError(ValueError):
    """A config value is valid on its own but not together with others; the message names the keys."""


def check_config(config: dict) -> None:
    """Checks the JSON schema cannot express."""
    world = config["tiny"]["world"]
    if world["min_topics"] > world["max_topics"]:
        raise ConfigError(f"tiny.world.min_topics ({world['min_topics']}) exceeds tiny.world.max_topics "
                          f"({world['max_topics']})")
    tiny = config["tiny"]
    if tiny["hidden_size"] % tiny["num_attention_heads"]:
        raise ConfigError(f"tiny.hidden_size ({tiny['hidden_size']}) must be divisible by "
                          f"tiny.num_attention_heads ({tiny['num_attention_heads']})")
    if tiny["num_attention_heads"] % tiny["num_key_value_heads"]:
        raise ConfigError(f"tiny.num_attention_heads ({tiny['num_attention_heads']}) must be divisible by "
                          f"tiny.num_key_value_heads ({tiny['num_key_value_heads']})")
    inverse, generation = config["inverse"], config["generation"]
    if inverse["enabled"] and inverse["answers_per_question"] >= generation["samples_per_question"]:
        raise ConfigError(f"inverse.answers_per_question ({inverse['answers_per_question']}) must be below "
                          f"generation.samples_per_question ({generation['samples_per_question']}): the other samples "
                          "estimate the golden propensities the inverse ceiling ranks with (or set inverse.enabled: false)")
    if "chunks" in config["suite"]["domains"]:
        raise ConfigError("suite.domains: 'chunks' is reserved as a folder name and cannot be a domain id")
    # Method names come from the registry (metasft.sources), not the schema, so a new method is one row there.
    named = [("inverse.methods", m, MODEL_METHODS) for m in config["inverse"]["methods"]]
    named += [(f"metrics.primary.{key}", config["metrics"]["primary"][key], METHODS) for key in ("method", "baseline")]
    for key, name, allowed in named:
        if name not in allowed:
            close = [FORMER_NAMES[name]] if name in FORMER_NAMES else difflib.get_close_matches(name, allowed, 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{key}: {name!r} is not a method{hint}; allowed: {', '.join(allowed)}")


# A Hugging Face hub id: owner/name, letters, digits, '-', '_', '.', no '--' or '..' (huggingface_hub's rule).
# Keys that hold credentials (SECRET_KEY), and values that are Anthropic keys under any key.
SECRET_VALUE = re.compile(r"^\s*sk-ant-")


def find_secrets(config, where: str = "") -> list[str]:
    """Key paths of the config that hold a credential (a non-empty string under a key such as api_key)."""
    found = []
    items = config.items() if isinstance(config, dict) else enumerate(config) if isinstance(config, list) else ()
    for key, value in items:
        path = f"{where}[{key}]" if isinstance(config, list) else f"{where}.{key}" if where else str(key)
        if isinstance(value, (dict, list)):
            found += find_secrets(value, path)
        elif isinstance(value, str) and value.strip() and (
                (isinstance(key, str) and SECRET_KEY.search(key)) or SECRET_VALUE.match(value)):
            found.append(path)
    return found


def check_no_secrets(config: dict) -> None:
    """Refuse credentials in the config before anything prints it (schema errors echo the offending values, to
    the terminal and to .snakemake/log/). The message names the keys, never the values."""
    found = find_secrets(config)
    if found:
        raise ConfigError(f"{', '.join(found)}: a secret does not belong in the config, where errors and logs "
                          "would echo it; remove it and set the ANTHROPIC_API_KEY environment variable instead "
                          "(the only place the pipeline reads the key from)")


HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def check_model_reference(value: str, key: str) -> None:
    """A model named in the config is a local folder saved with save_pretrained or a well-formed hub id; a
    missing folder fails here, not in the first job that loads it. Hub ids are not looked up (no network)."""
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"{key} '{value}' is a file; a local model is a folder written by save_pretrained "
                              "(config.json and weights)")
        if not (path / "config.json").is_file():
            raise ConfigError(f"{key} '{value}': the folder holds no config.json, so it is not a saved model "
                              "(save_pretrained writes one)")
        return
    if not HUB_ID.match(value) or "--" in value or ".." in value or value.endswith(".git"):
        raise ConfigError(f"{key} '{value}': no such model folder, and not a hub id of the form owner/name "
                          "(e.g. Qwen/Qwen3-4B-Base)")


def check_models(config: dict) -> None:
    """base_model, and the judge model when it is a separate local model."""
    if config["base_model"] != "tiny":
        check_model_reference(config["base_model"], "base_model")
    judge = config["judge"]
    if judge["backend"] == "hf" and judge["hf"]["model"] != "tiny":
        check_model_reference(judge["hf"]["model"], "judge.hf.model")


def check_split(split: dict[str, str], config: dict) -> None:
    """Both halves need two domains: correlations per quadrant and the GT baselines' shuffles need more than one
    pair per side. Checked at DAG time, not after pretraining, fine-tuning and sampling."""
    counts = {half: sum(v == half for v in split.values()) for half in ("meta_train", "meta_eval")}
    if min(counts.values()) < 2:
        raise ConfigError(f"{len(split)} domains split into {counts['meta_train']} meta_train and "
                          f"{counts['meta_eval']} meta_eval; each half needs at least 2: choose more domains in "
                          "suite.domains (empty means all of the suite's) or change split.meta_train_fraction "
                          f"({config['split']['meta_train_fraction']})")


def check_suite_against_config(suite, config: dict) -> None:
    """The scorer, the judge and the base model must fit the suite; messages name the keys and the suite."""
    backend = config["judge"]["backend"]
    where = f"suite '{suite.name}' ({config['suite']['path']})"
    # Every pair gets the same number of eval questions; a short domain would otherwise fail only in the suite job.
    asked = config.get("generation", {}).get("eval_questions_per_domain")
    pending = set(suite.pending_domains)
    short = [f"{d.id} ({len(d.eval_questions)})" for d in suite.domains.values()
             if asked and d.id not in pending and len(d.eval_questions) < asked]
    if short:
        raise ConfigError(f"generation.eval_questions_per_domain is {asked}, and {where} has fewer eval questions "
                          f"in domains: {', '.join(short[:10])}{' ...' if len(short) > 10 else ''}; add eval "
                          "questions to those domains or lower generation.eval_questions_per_domain")
    nl_enabled(suite, config)  # nl.enabled true needs a description of every domain
    if suite.scorer == "judge" and backend == "categorical":
        raise ConfigError(f"{where} has free-text answers scored by an LLM judge: set judge.backend to 'hf' or "
                          "'anthropic'")
    if suite.scorer == "categorical" and backend != "categorical":
        raise ConfigError(f"{where} is scored by parsing options: judge.backend must be 'categorical', "
                          f"got '{backend}'")
    if backend == "hf" and config["judge"]["hf"]["model"] == "tiny" and config["base_model"] != "tiny":
        raise ConfigError("judge.hf.model 'tiny' means this run's tiny base model, but base_model is "
                          f"'{config['base_model']}': name a judge model (hub id or path)")
    custom_judged = any(d.eval_judges for d in suite.domains.values())
    if custom_judged and backend == "hf" and config["judge"]["hf"]["model"] == "tiny":
        raise ConfigError(f"judge.hf.model 'tiny' is trained to judge advice with the EM prompts only, and {where} "
                          "is judged by its own judge prompts: set judge.backend to 'anthropic' or name a judge "
                          "model in judge.hf.model (hub id or path)")
    # The tiny base builds a persona world (personas), an advice world (advice suites) or a text world (any other
    # suite: metasft.models.world). Advice areas need their shipped aligned answers for the advice world.
    if config["base_model"] != "tiny" or suite.personas or suite.scorer != "judge" or custom_judged:
        return
    unusable = [d.id for d in suite.domains.values() if not d.aligned]
    if unusable:
        raise ConfigError(f"base_model 'tiny' is pretrained on the advice world, which needs shipped areas "
                          f"with aligned answers; {where} has none for: {', '.join(unusable[:10])}"
                          f"{' ...' if len(unusable) > 10 else ''} (choose suite.domains among the shipped ones "
                          "or set base_model to a hub model)")


def nl_enabled(suite, config: dict) -> bool:
    """Whether the run samples the NL methods (config nl.enabled): `auto` when every domain has a description of its
    training data, or will get one from Claude (nl.descriptions claude); `true` always (a domain without one is a
    ConfigError naming it); `false` never."""
    setting = config["nl"]["enabled"]
    undescribed = [] if config["nl"].get("descriptions") == "claude" else \
        [d.id for d in suite.domains.values() if d.description is None]
    if setting is True and undescribed:
        raise ConfigError(f"nl.enabled is true, and suite '{suite.name}' ({config['suite']['path']}) has no "
                          f"description of the training data of domains: {', '.join(undescribed[:10])}"
                          f"{' ...' if len(undescribed) > 10 else ''}; the NL methods need one per domain (preference "
                          "suites have them): set nl.descriptions: claude to have Claude write them, or nl.enabled "
                          "to auto or false")
    return setting is True or (setting == "auto" and not undescribed)


def descriptions_to_write(suite, config: dict) -> list[str]:
    """The domains rule describe_domains describes: those without a description, when the run's NL methods get theirs
    from Claude (nl.descriptions claude)."""
    if config["nl"].get("descriptions") != "claude" or config["nl"]["enabled"] is False:
        return []
    return [d.id for d in suite.domains.values() if d.description is None]


def inverse_methods(config: dict, nl: bool) -> list[str]:
    """The forward methods that rank candidate train domains (config inverse.methods): the NL ones only when the run
    samples them. Empty when inverse prediction is off."""
    if not config["inverse"]["enabled"]:
        return []
    methods = [m for m in config["inverse"]["methods"] if nl or m not in NL_SOURCES]
    if not methods:
        raise ConfigError(f"inverse.methods ({', '.join(config['inverse']['methods'])}) names only NL methods, and "
                          "this run has none (nl.enabled): add UntrainedICL or MetaSFT, or set inverse.enabled: false")
    return methods


def check_primary(config: dict, nl: bool) -> None:
    """The primary comparison (metrics.primary) must compare two different methods this run predicts with."""
    primary = config["metrics"]["primary"]
    method, baseline = primary["method"], primary["baseline"]
    if method == baseline:
        raise ConfigError(f"metrics.primary compares {method} with itself: name two methods (method, baseline)")
    missing = [m for m in (method, baseline) if m in NL_SOURCES and not nl]
    if missing:
        raise ConfigError(f"metrics.primary names {', '.join(missing)}, and this run has no NL methods (nl.enabled, "
                          "a suite with descriptions): compare methods the run predicts with")


def inverse_eval_domains(config: dict, split: dict[str, str]) -> list[str]:
    """The eval domains whose pairs inverse prediction ranks (config inverse.eval_domains): every domain, or a seeded
    sample of that many drawn from each half of the split in proportion to its size (at least one from each, so all
    four quadrants have pairs). In `split`'s order; every train domain of a half stays a candidate either way."""
    wanted = config["inverse"].get("eval_domains")
    domains = list(split)
    if wanted is None or wanted >= len(domains):
        return domains
    halves = {h: [d for d in domains if split[d] == h] for h in ("meta_train", "meta_eval")}
    sizes = {h: len(members) for h, members in halves.items()}
    from_train = min(max(round(wanted * sizes["meta_train"] / len(domains)), 1), wanted - 1, sizes["meta_train"])
    from_eval = min(wanted - from_train, sizes["meta_eval"])
    counts = {"meta_train": min(wanted - from_eval, sizes["meta_train"]), "meta_eval": from_eval}
    chosen = set()
    for half, members in halves.items():
        rng = random.Random(f"inverse_eval_domains:{config['seed']}:{half}")
        chosen.update(rng.sample(sorted(members), counts[half]))
    return [d for d in domains if d in chosen]


def api_needs(config: dict, pending_areas: list[str], descriptions_pending: list[str] = ()) -> list[str]:
    """What in this config calls the Anthropic API (empty when nothing does)."""
    needs = []
    if descriptions_pending:
        needs.append(f"describe_domains for {len(descriptions_pending)} domains (nl.descriptions 'claude')")
    if config["judge"]["backend"] == "anthropic":
        needs.append("judge.backend 'anthropic'")
    if pending_areas:
        needs.append(f"generate_suite for {len(pending_areas)} areas without shipped data "
                     f"({', '.join(pending_areas[:3])}{', ...' if len(pending_areas) > 3 else ''})")
    return needs


ROOT = Path(__file__).resolve().parents[3]  # the repository: config/, resources/


def merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged


def check_schema(config, schema: dict, source: str = "config") -> None:
    """Raise ConfigError with every schema violation of `config`, one per line."""
    problems = schema_problems(config, schema)
    if problems:
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        raise ConfigError(f"{source} has {count} (keys and bounds: config/schema.yaml):\n"
                          + "\n".join(f"  {line}" for line in problems))


def fill_defaults(schema: dict, config: dict, root: dict | None = None) -> dict:
    """Validate `config` against the workflow's JSON schema, filling defaults as Snakemake's validate does; a
    violation raises ConfigError, one line per key (metasft.pipeline.validation)."""
    root = root or schema

    def resolve(node):
        while "$ref" in node:
            node = root["$defs"][node["$ref"].split("/")[-1]]
        return node

    def walk(node, value):
        node = resolve(node)
        if node.get("type") == "object" and isinstance(value, dict):
            for key, child in node.get("properties", {}).items():
                child = resolve(child)
                if key not in value and "default" in child:
                    value[key] = yaml.safe_load(yaml.safe_dump(child["default"]))
                if key in value:
                    walk(child, value[key])
        return value

    config = walk(schema, config)
    check_schema(config, root)
    return config


@functools.cache
def load_schema() -> dict:
    return yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())


def read_preset(path: str | Path, extended_by: tuple[Path, ...] = ()) -> dict:
    """A config file with its `extends:` resolved: the files it names (paths relative to it, in order, each with
    its own `extends:`) merged first, its own keys over them. Presets share layers this way
    (config/presets/paper/layers/)."""
    path = Path(path).resolve()
    if path in extended_by:
        chain = " -> ".join(str(p) for p in (*extended_by, path))
        raise ConfigError(f"{path}: extends itself ({chain})")
    if not path.is_file():
        named_by = f" (in extends: of {extended_by[-1]})" if extended_by else ""
        raise ConfigError(f"{path}: config file not found{named_by}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file is a mapping of keys, got {type(data).__name__}")
    parents = data.pop("extends", [])
    parents = [parents] if isinstance(parents, str) else parents
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ConfigError(f"{path}: extends: must be a file name or a list of them, got {parents!r}")
    merged: dict = {}
    for parent in parents:
        merged = merge(merged, read_preset(path.parent / parent, (*extended_by, path)))
    return merge(merged, data)


def layered_config(configfiles, overrides: dict | None = None, defaults=(ROOT / "config" / "config.yaml",)) -> dict:
    """`defaults` (the workflow's own config/config.yaml), then each of `configfiles` with its `extends:` resolved,
    then `overrides` (--config), as Snakemake merges them (nested keys merged, anything else replaced)."""
    config: dict = {}
    for path in [*defaults, *configfiles]:
        config = merge(config, read_preset(path))
    return merge(config, overrides or {})


def load_config(configfiles: list[str]) -> dict:
    """A run's config as the workflow sees it: config/config.yaml, then `configfiles` (their `extends:` resolved)
    merged over it, validated with the schema's defaults filled."""
    config = layered_config(configfiles)
    check_no_secrets(config)  # before the schema, whose errors print the offending values
    return fill_defaults(copy.deepcopy(load_schema()), config)


@functools.cache
def _schema_defaults() -> dict:
    return fill_defaults(copy.deepcopy(load_schema()), {})


def schema_defaults() -> dict:
    """The config that names nothing: every key at its schema default (a fresh copy, free to change). Code outside
    a run (tests, settings of a tokenizer given none) starts from it, not from config/config.yaml, which is one
    run's choice of sizes."""
    return copy.deepcopy(_schema_defaults())


def settings_from(cls, section: dict, where: str):
    """The settings dataclass `cls` built from config `section` (validated, defaults filled) at key path `where`.

    Takes exactly the dataclass's fields (the section's other keys belong to the rule, e.g. threads or
    domains_per_job), builds nested settings dataclasses the same way, and makes lists tuples where the field is a
    tuple. A field the section lacks is an error naming its key path; only a field with a dataclass default may be
    absent (a sub-section that result settings drop, see the field's comment). The schema is the one source of
    defaults, so settings fields carry none of their own.
    """
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {type(section).__name__}")
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        path = f"{where}.{field.name}"
        if field.name not in section:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{path} is missing: settings are built from the validated config, whose schema "
                                  "(config/schema.yaml) fills every default")
            continue
        value, hint = section[field.name], hints[field.name]
        if dataclasses.is_dataclass(hint):
            value = settings_from(hint, value, path)
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        values[field.name] = value
    return cls(**values)
