"""Helpers the Snakemake workflow uses to build its DAG (kept here so they are unit-tested)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config value is valid on its own but not together with others; the message names the keys."""


def chunk_domains(domains: list[str], per_job: int) -> dict[str, list[str]]:
    """Consecutive chunks of `per_job` domains. With one domain per job the chunk is named by the domain."""
    if per_job == 1:
        return {d: [d] for d in domains}
    return {f"part{i // per_job:03d}": domains[i:i + per_job] for i in range(0, len(domains), per_job)}


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
    if "chunks" in config["suite"]["domains"]:
        raise ConfigError("suite.domains: 'chunks' is reserved as a folder name and cannot be a domain id")


def log_to_file(path) -> None:
    """Send this job's logging, warnings and library prints to its Snakemake log file."""
    import logging
    import sys

    handle = open(path, "a", buffering=1)
    sys.stdout = sys.stderr = handle
    logging.basicConfig(stream=handle, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
