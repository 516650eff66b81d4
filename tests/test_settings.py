"""Settings objects: one builder from the validated config, and the schema as the one source of their defaults."""

import dataclasses
import typing

import pytest

from metasft.generation.requests import SamplingSettings
from metasft.models.chat import ChatSettings, to_chat_settings
from metasft.models.tiny import TinySettings
from metasft.models.training import LoraSettings, SFTSettings
from metasft.pipeline.config import (
    ConfigError,
    load_config,
    load_schema,
    schema_defaults,
    settings_from,
)
from metasft.pipeline.reruns import job_settings, result_settings

SETTINGS = {"generation": SamplingSettings, "tiny": TinySettings, "finetune": SFTSettings,
            "meta_train": SFTSettings, "chat": ChatSettings}

# Schema keys of these sections that are no settings field: the rule or job reads them (threads, job layout,
# how many eval questions a pair gets). A new schema key is either a field or listed here.
RULE_KEYS = {"generation": {"threads", "domains_per_job", "eval_questions_per_domain"}, "tiny": {"threads"},
             "finetune": {"threads", "domains_per_job"}, "meta_train": {"threads", "domains_per_job"}}

# Fields that keep a dataclass default although the schema has their key: the builder may find them absent.
KEPT_DEFAULTS = {
    (SamplingSettings, "vllm"),  # rules drop generation.vllm from a job's settings unless the backend is vllm
}

# Fields no config key sets (e.g. a benchmark-only knob); each keeps a default. None today.
NON_CONFIG: set[tuple[type, str]] = set()


def schema_node(path: str) -> dict:
    schema = load_schema()
    node = schema
    for key in path.split("."):
        node = node["properties"][key]
        while "$ref" in node:
            node = schema["$defs"][node["$ref"].split("/")[-1]]
    return node


def has_default(field: dataclasses.Field) -> bool:
    return field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING


def mismatches(cls, path: str) -> list[str]:
    """Where `cls` and the schema section at `path` disagree about which keys exist and who holds defaults."""
    properties = schema_node(path).get("properties", {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    found = []
    for name, field in fields.items():
        where = f"{path}.{name} ({cls.__name__})"
        if (cls, name) in NON_CONFIG:
            if name in properties:
                found.append(f"{where}: listed as no config key, but the schema has it")
            if not has_default(field):
                found.append(f"{where}: a field no config key sets needs a default")
            continue
        if name not in properties:
            found.append(f"{where}: no schema key (add one with a default, or list the field in NON_CONFIG)")
            continue
        if "default" not in properties[name]:
            found.append(f"{where}: the schema key has no default")
        if has_default(field) and (cls, name) not in KEPT_DEFAULTS:
            found.append(f"{where}: the dataclass has a default; the schema is the one source of defaults")
        if dataclasses.is_dataclass(hints[name]):
            found += mismatches(hints[name], f"{path}.{name}")
    top = path.split(".")[0]
    extra = set(properties) - set(fields) - (RULE_KEYS.get(top, set()) if path == top else set())
    found += [f"{path}.{key}: a schema key with no settings field (add a field, or list it in RULE_KEYS)"
              for key in sorted(extra)]
    return found


@pytest.mark.parametrize("section", sorted(SETTINGS))
def test_settings_fields_and_schema_keys_match_and_only_the_schema_holds_defaults(section):
    assert mismatches(SETTINGS[section], section) == []


def test_settings_are_built_from_the_section_strictly():
    defaults = schema_defaults()
    finetune = defaults["finetune"]
    built = settings_from(SFTSettings, finetune, "finetune")
    assert isinstance(built.lora, LoraSettings) and built.lora.r == finetune["lora"]["r"]  # nested
    assert isinstance(built.lora.target_modules, tuple)  # the config's list, hashable in a frozen dataclass
    assert built.lora.target_modules == tuple(finetune["lora"]["target_modules"])
    assert "threads" in finetune and "domains_per_job" in finetune  # the rule's keys are left out, not errors
    assert settings_from(TinySettings, {**defaults["tiny"], "unknown": 1}, "tiny").world.n_documents == \
        defaults["tiny"]["world"]["n_documents"]

    generation = dict(defaults["generation"])
    del generation["top_p"]
    with pytest.raises(ConfigError, match=r"^generation\.top_p is missing"):
        settings_from(SamplingSettings, generation, "generation")
    del finetune["lora"]["alpha"]
    with pytest.raises(ConfigError, match=r"^meta_train\.lora\.alpha is missing"):
        settings_from(SFTSettings, finetune, "meta_train")
    with pytest.raises(ConfigError, match=r"^tiny\.world: expected a mapping"):
        settings_from(TinySettings, {**defaults["tiny"], "world": 3}, "tiny")
    del generation["vllm"]  # a field with a kept default may be absent: the hf backend's jobs get no vllm section
    generation["top_p"] = 0.9
    assert settings_from(SamplingSettings, generation, "generation").vllm == {}


@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_every_job_builds_its_settings_from_what_its_rule_passes(backend):
    """Rules pass result settings as params and scripts add the performance keys back (metasft.pipeline.reruns):
    that is what the builder gets in a job, and nothing a field needs may be lost on the way."""
    config = load_config([])
    config["generation"]["backend"] = backend
    for section, cls in SETTINGS.items():
        in_job = job_settings(result_settings(config, section), config, section) if section != "chat" else \
            config["chat"]  # rules pass config["chat"] whole
        expected = dict(config[section])
        if section == "generation" and backend == "hf":
            del expected["vllm"]  # an unused backend's options are not passed
        assert settings_from(cls, in_job, section) == settings_from(cls, expected, section)


def test_schema_defaults_are_a_fresh_copy_and_no_chat_section_means_them():
    defaults = schema_defaults()
    defaults["generation"]["top_p"] = 0.5
    defaults["finetune"]["lora"]["target_modules"].append("lm_head")
    assert schema_defaults()["generation"]["top_p"] == load_schema()["properties"]["generation"]["properties"][
        "top_p"]["default"]
    assert "lm_head" not in schema_defaults()["finetune"]["lora"]["target_modules"]
    assert to_chat_settings(None) == settings_from(ChatSettings, schema_defaults()["chat"], "chat")
    assert to_chat_settings({"enable_thinking": True}).enable_thinking
