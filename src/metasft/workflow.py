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


def check_suite_against_config(suite, config: dict) -> None:
    """The scorer, the judge and the base model must fit the suite; messages name the keys and the suite."""
    backend = config["judge"]["backend"]
    where = f"suite '{suite.name}' ({config['suite']['path']})"
    # Every pair gets the same number of eval questions; a short domain would otherwise fail only in the suite job.
    asked = config.get("generation", {}).get("eval_questions_per_domain")
    pending = set(suite.pending)
    short = [f"{d.id} ({len(d.eval_questions)})" for d in suite.domains.values()
             if asked and d.id not in pending and len(d.eval_questions) < asked]
    if short:
        raise ConfigError(f"generation.eval_questions_per_domain is {asked}, and {where} has fewer eval questions "
                          f"in domains: {', '.join(short[:10])}{' ...' if len(short) > 10 else ''}; add eval "
                          "questions to those domains or lower generation.eval_questions_per_domain")
    if suite.scorer == "judge" and backend == "categorical":
        raise ConfigError(f"{where} has free-text answers scored by an LLM judge: set judge.backend to 'hf' or "
                          "'anthropic'")
    if suite.scorer == "categorical" and backend != "categorical":
        raise ConfigError(f"{where} is scored by parsing options: judge.backend must be 'categorical', "
                          f"got '{backend}'")
    if backend == "hf" and config["judge"]["hf"]["model"] == "tiny" and config["base_model"] != "tiny":
        raise ConfigError("judge.hf.model 'tiny' means this run's tiny base model, but base_model is "
                          f"'{config['base_model']}': name a judge model (hub id or path)")
    if config["base_model"] != "tiny" or suite.personas:
        return
    if suite.scorer != "judge":
        raise ConfigError(f"base_model 'tiny' is pretrained on a suite's persona world, and {where} has no "
                          "personas: set base_model to a hub model id or path")
    unusable = [d.id for d in suite.domains.values() if not d.aligned]
    if unusable:
        raise ConfigError(f"base_model 'tiny' is pretrained on the advice world, which needs shipped areas "
                          f"with aligned answers; {where} has none for: {', '.join(unusable[:10])}"
                          f"{' ...' if len(unusable) > 10 else ''} (choose suite.domains among the shipped ones "
                          "or set base_model to a hub model)")


def api_needs(config: dict, pending_areas: list[str]) -> list[str]:
    """What in this config calls the Anthropic API (empty when nothing does)."""
    needs = []
    if config["judge"]["backend"] == "anthropic":
        needs.append("judge.backend 'anthropic'")
    if pending_areas:
        needs.append(f"generate_suite for {len(pending_areas)} areas without shipped data "
                     f"({', '.join(pending_areas[:3])}{', ...' if len(pending_areas) > 3 else ''})")
    return needs


def start_job(snakemake) -> None:
    """What every job script does first: log to its log file, then any fault injected by config for tests."""
    log_to_file(snakemake.log[0])
    inject_fault(snakemake)


class InjectedFault(RuntimeError):
    """Raised on a job's first attempt when config testing.fail_once names its rule."""


def inject_fault(snakemake) -> None:
    """Fail the first attempt of rules listed in config testing.fail_once (a marker file records the attempt)."""
    from pathlib import Path

    rules = snakemake.config.get("testing", {}).get("fail_once", [])
    if snakemake.rule not in rules:
        return
    marker = Path(f"results/{snakemake.config['run']}/.faults") / "_".join(
        [snakemake.rule, *map(str, snakemake.wildcards)])
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        raise InjectedFault(f"injected failure of rule {snakemake.rule} (first attempt; config testing.fail_once)")


def log_to_file(path) -> None:
    """Send this job's logging, warnings and library prints to its Snakemake log file."""
    import logging
    import sys

    handle = open(path, "a", buffering=1)
    sys.stdout = sys.stderr = handle
    logging.basicConfig(stream=handle, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)


GPU_RULES = ("pretrain_base", "finetune", "golden", "predict_icl", "meta_train", "predict_metasft")

# Minutes of one GPU per unit of work for a 1B-parameter base model, scaled linearly by model size. Units:
# pretrain_base a run; finetune an adapter; sampling rules 100 answers; meta_train 100 optimizer steps of 16.
# Override per rule with cluster.minutes_per_unit.
DEFAULT_MINUTES_PER_UNIT = {"pretrain_base": 10.0, "finetune": 0.5, "golden": 0.02, "predict_icl": 0.04,
                            "meta_train": 0.3, "predict_metasft": 0.04}


def model_params_billions(config: dict) -> float:
    """Size of the base model in billions of parameters: cluster.model_params_b, else read off the hub id
    ("Qwen/Qwen3-4B-Base" -> 4); the tiny model counts as 0.001."""
    import re

    explicit = config.get("cluster", {}).get("model_params_b")
    if explicit:
        return float(explicit)
    if config["base_model"] == "tiny":
        return 0.001
    match = re.search(r"(\d+(?:\.\d+)?)[bB](?![a-zA-Z])", config["base_model"].rstrip("/").split("/")[-1])
    if not match:
        raise ConfigError(f"cannot tell the size of base_model '{config['base_model']}' from its name: "
                          "set cluster.model_params_b (billions of parameters)")
    return float(match.group(1))


def work_units(config: dict, rule: str, n_domains: int, domains_in_job: int = 1) -> float:
    generation = config["generation"]
    answers_per_train_domain = n_domains * generation["eval_questions_per_domain"] * generation["samples_per_question"]
    if rule == "pretrain_base":
        return 1.0
    if rule == "finetune":
        return float(domains_in_job)
    if rule in ("golden", "predict_icl", "predict_metasft"):
        return domains_in_job * answers_per_train_domain / 100
    if rule == "meta_train":
        return config["meta_train"]["max_steps"] / 100 * config["meta_train"]["batch_size"] / 16
    raise KeyError(rule)


def gpu_minutes(config: dict, rule: str, n_domains: int, domains_in_job: int = 1) -> float:
    minutes = config.get("cluster", {}).get("minutes_per_unit", {}).get(rule, DEFAULT_MINUTES_PER_UNIT[rule])
    return minutes * work_units(config, rule, n_domains, domains_in_job) * max(model_params_billions(config), 0.5)


def job_resources(config: dict, rule: str, n_domains: int, domains_in_job: int = 1) -> dict:
    """SLURM resources of one job of `rule`, scaled by the base model's size and the work the job holds.

    Host memory holds the weights once in bf16 (2 GB per billion parameters) with loading headroom; the
    runtime limit is twice the estimate plus 15 minutes, so a slow node does not kill a job.
    """
    if rule == "score":
        return score_resources(config, n_domains, domains_in_job)
    if rule in ("baselines", "metrics"):
        return analysis_resources(config, n_domains)
    if rule not in GPU_RULES:
        return {"mem_mb": 4000, "runtime": 30, "cpus_per_task": 1}
    if config["base_model"] == "tiny":
        return {"mem_mb": 4000, "runtime": 30, "cpus_per_task": 2}
    size = model_params_billions(config)
    return {"mem_mb": int(16000 + 6000 * size),
            "runtime": int(15 + 2 * gpu_minutes(config, rule, n_domains, domains_in_job)),
            "cpus_per_task": 8}


def analysis_resources(config: dict, n_domains: int) -> dict:
    """`baselines` and `metrics`: memory grows with the prediction rows (pairs x (3 R + 2)), time with the
    bootstrap work (pairs x R x resamples); the bootstrap itself runs in fixed-size batches, so its memory
    does not grow with the resample count. Per-unit figures measured with `python -m metasft.bench_metrics`
    (about 300 bytes per prediction row at peak, 5 ns per pair x permutation x resample), doubled for headroom.
    """
    metrics = config["metrics"]
    pairs = n_domains ** 2
    rows = pairs * (3 * metrics["permutations"] + 2)
    seconds = 5e-9 * 3 * pairs * metrics["permutations"] * metrics["bootstrap_resamples"]
    return {"mem_mb": int(1000 + 2 * rows * 300 / 1e6), "runtime": int(15 + 2 * seconds / 60), "cpus_per_task": 1}


def score_resources(config: dict, n_domains: int, domains_in_job: int) -> dict:
    """Scoring jobs: tiny for the option parser; a GPU-sized job for a local judge model; long-lived but
    small for the Anthropic judge (a Message Batch may take up to 24 hours to end)."""
    judge = config["judge"]
    answers = domains_in_job * work_units(config, "golden", n_domains, 1) * 100
    if judge["backend"] == "hf" and not (judge["hf"]["model"] == "tiny" or config["base_model"] == "tiny"):
        minutes = 0.02 * answers / 100 * 2 * 8  # two metrics; a judge model of ~8B
        return {"mem_mb": 64000, "runtime": int(15 + 2 * minutes), "cpus_per_task": 8, "gpu": 1}
    if judge["backend"] == "hf":
        return {"mem_mb": 4000, "runtime": 60, "cpus_per_task": 2, "gpu": 1}
    if judge["backend"] == "anthropic":
        runtime = 25 * 60 if judge["anthropic"]["use_batches"] else int(30 + 2 * answers * 2 / 60
                                                                           / judge["anthropic"]["concurrency"])
        return {"mem_mb": 4000, "runtime": runtime, "cpus_per_task": 1, "gpu": 0}
    return {"mem_mb": 4000, "runtime": 30, "cpus_per_task": 1, "gpu": 0}
