"""Job sizes for the SLURM profile and the GPU cost model: work units per rule, scaled by the base model's size."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from metasft.pipeline.config import ConfigError
from metasft.sources import SAMPLED, SAMPLING_RULES


def chunk_domains(domains: list[str], per_job: int) -> dict[str, list[str]]:
    """Consecutive chunks of `per_job` domains. With one domain per job the chunk is named by the domain."""
    if per_job == 1:
        return {d: [d] for d in domains}
    return {f"part{i // per_job:03d}": domains[i:i + per_job] for i in range(0, len(domains), per_job)}


def inverse_chunks(eval_domains: list[str], sampling_chunks: dict[str, list[str]]) -> dict[str, list[str]]:
    """Jobs of rule inverse_likelihoods: the sampling chunks when every domain is ranked, else the ranked eval domains
    cut into as many chunks (so a sample keeps the run's parallelism)."""
    if eval_domains == [d for members in sampling_chunks.values() for d in members]:
        return sampling_chunks
    return chunk_domains(eval_domains, -(-len(eval_domains) // len(sampling_chunks)))


# The model rules, which need a GPU on a cluster; the sampling rules (metasft.sources) work in answers.
GPU_RULES = ("pretrain_base", "finetune", *SAMPLING_RULES, "meta_train", "meta_train_nl", "inverse_likelihoods")


# Minutes of one GPU per unit of work for a 1B-parameter base model, scaled linearly by model size. Units:
# pretrain_base a run; finetune an adapter; sampling rules 100 answers; meta_train 100 optimizer steps of 16.
# Override per rule with cluster.minutes_per_unit.
# Description prompts are about as long as a question with one example, so the NL rules cost between the two.
# inverse_likelihoods: 100 scored answers, one forward pass over each after a prompt prefilled once per batch
# (sampling takes max_new_tokens sequential steps per answer). Not measured on a GPU: 0.002 is 2 GFLOP per token and
# 1B parameters over 64-token answers at about a tenth of an H100's dense bf16 peak.
DEFAULT_MINUTES_PER_UNIT = {"pretrain_base": 10.0, "finetune": 0.5, **{s.rule: s.gpu_minutes for s in SAMPLED},
                            "meta_train": 0.3, "meta_train_nl": 0.3, "inverse_likelihoods": 0.002}


def model_params_billions(config: dict) -> float:
    """Size of the base model in billions of parameters: cluster.model_params_b; else, for a local folder, its
    weights' tensor shapes or its config.json; else read off the hub id ("Qwen/Qwen3-4B-Base" -> 4); the tiny
    model counts as 0.001. Raises ConfigError only when none of these tells."""
    explicit = config.get("cluster", {}).get("model_params_b")
    if explicit:
        return float(explicit)
    base = config["base_model"]
    if base == "tiny":
        return 0.001
    if Path(base).expanduser().is_dir():
        params = local_model_params(str(Path(base).expanduser().resolve()))
        if params:
            return params / 1e9
        reason = "its folder has no safetensors weights and its config.json lacks the sizes"
    else:
        match = re.search(r"(\d+(?:\.\d+)?)[bB](?![a-zA-Z])", base.rstrip("/").split("/")[-1])
        if match:
            return float(match.group(1))
        reason = "its name carries no size"
    raise ConfigError(f"cannot tell the size of base_model '{base}' ({reason}): set cluster.model_params_b "
                      "(billions of parameters; cluster jobs are sized by it)")


@lru_cache(maxsize=8)
def local_model_params(folder: str) -> int | None:
    """Parameters of a model saved in `folder`: exact from the safetensors headers (a few kB read per file),
    else estimated from config.json; None when neither tells."""
    root = Path(folder)
    index = root / "model.safetensors.index.json"
    if index.is_file():
        files = sorted({root / name for name in json.loads(index.read_text())["weight_map"].values()})
    else:
        files = [root / "model.safetensors"]
    if all(f.is_file() for f in files):
        return sum(safetensors_params(f) for f in files)
    config_file = root / "config.json"
    return params_from_model_config(json.loads(config_file.read_text())) if config_file.is_file() else None


def safetensors_params(path) -> int:
    """Elements of every tensor in a safetensors file, from its JSON header (the weights are not read)."""
    import math

    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
    return sum(math.prod(t["shape"]) for name, t in header.items() if name != "__metadata__")


def params_from_model_config(model_config: dict) -> int | None:
    """Estimate of a decoder-only transformer's parameters from its config.json (embeddings, attention with
    grouped key/value heads, gated MLP, experts if any); None when the sizes are missing."""
    c = model_config.get("text_config") or model_config
    hidden, layers, vocab = c.get("hidden_size"), c.get("num_hidden_layers"), c.get("vocab_size")
    if not (hidden and layers and vocab):
        return None
    heads = c.get("num_attention_heads") or 1
    head_dim = c.get("head_dim") or hidden // heads
    kv_heads = c.get("num_key_value_heads") or heads
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
    experts = c.get("num_experts") or c.get("num_local_experts") or c.get("n_routed_experts") or 1
    intermediate = (c.get("moe_intermediate_size") if experts > 1 else None) or c.get("intermediate_size") \
        or 4 * hidden
    mlp = 3 * hidden * intermediate * experts
    embeddings = vocab * hidden * (1 if c.get("tie_word_embeddings", model_config.get("tie_word_embeddings")) else 2)
    return int(embeddings + layers * (attention + mlp + 2 * hidden))


def work_units(config: dict, rule: str, n_domains: int, domains_in_job: int = 1,
               answers_per_pair: float | None = None) -> float:
    """`answers_per_pair`: the suite's mean answers per (T, E) pair (`Suite.answers_per_pair`: a question file may
    set its own samples); None: eval questions per domain x samples per question, from the config."""
    generation = config["generation"]
    if answers_per_pair is None:
        answers_per_pair = generation["eval_questions_per_domain"] * generation["samples_per_question"]
    answers_per_train_domain = n_domains * answers_per_pair
    if rule == "pretrain_base":
        return 1.0
    if rule == "finetune":
        return float(domains_in_job)
    if rule in SAMPLING_RULES:
        return domains_in_job * answers_per_train_domain / 100
    if rule in ("meta_train", "meta_train_nl"):
        return config["meta_train"]["max_steps"] / 100 * config["meta_train"]["batch_size"] / 16
    if rule == "inverse_likelihoods":
        return domains_in_job * inverse_scorings_per_eval_domain(config, n_domains, answers_per_pair) / 100
    raise KeyError(rule)


def inverse_scorings_per_eval_domain(config: dict, n_domains: int, answers_per_pair: float | None = None,
                                     methods: int | None = None) -> float:
    """Answers scored for one eval domain by rule inverse_likelihoods, at most (distinct observed answers only are
    scored): per method, each candidate of a half scores the observed answers of every train domain of that half,
    two halves of n/2 domains: n^2 / 2 x observed answers per pair. `methods`: None counts the configured ones (the
    NL methods as if the suite had descriptions)."""
    generation, inverse = config["generation"], config["inverse"]
    questions = generation["eval_questions_per_domain"]
    if answers_per_pair is not None:  # the suite's own questions per pair, from its answers per pair
        questions = answers_per_pair / generation["samples_per_question"]
    observed = questions * inverse["answers_per_question"]
    if methods is None:
        methods = sum(1 for m in inverse["methods"] if config["nl"]["enabled"] is not False
                      or m in ("UntrainedICL", "MetaSFT"))
    return methods * n_domains ** 2 / 2 * observed


def check_minutes_per_unit(config: dict) -> None:
    """cluster.minutes_per_unit names model rules only (the schema leaves the names to this registry of rules)."""
    unknown = sorted(set(config["cluster"]["minutes_per_unit"]) - set(GPU_RULES))
    if unknown:
        raise ConfigError(f"cluster.minutes_per_unit: unknown rule {', '.join(map(repr, unknown))}; allowed: "
                          f"{', '.join(GPU_RULES)}")


def sampling_minutes(config: dict, rule: str, answers: float, params_b: float | None = None) -> float:
    """GPU minutes of `answers` sampled answers at `rule`'s per-unit cost (100 answers a unit)."""
    minutes = config.get("cluster", {}).get("minutes_per_unit", {}).get(rule, DEFAULT_MINUTES_PER_UNIT[rule])
    size = model_params_billions(config) if params_b is None else params_b
    return minutes * answers / 100 * max(size, 0.5)


def gpu_minutes(config: dict, rule: str, n_domains: int, domains_in_job: int = 1,
                params_b: float | None = None, answers_per_pair: float | None = None) -> float:
    minutes = config.get("cluster", {}).get("minutes_per_unit", {}).get(rule, DEFAULT_MINUTES_PER_UNIT[rule])
    size = model_params_billions(config) if params_b is None else params_b
    return minutes * work_units(config, rule, n_domains, domains_in_job, answers_per_pair) * max(size, 0.5)


def job_resources(config: dict, rule: str, n_domains: int, domains_in_job: int = 1,
                  params_b: float | None = None, answers_per_pair: float | None = None) -> dict:
    """SLURM resources of one job of `rule`, scaled by the base model's size and the work the job holds.

    Host memory holds the weights once in bf16 (2 GB per billion parameters) with loading headroom; the
    runtime limit is twice the estimate plus 15 minutes, so a slow node does not kill a job. `params_b`: the
    model size when the caller has it (None: model_params_billions); `answers_per_pair`: see `work_units`.
    """
    if rule == "score":
        return score_resources(config, n_domains, domains_in_job, answers_per_pair)
    if rule in ("baselines", "metrics"):
        return analysis_resources(config, n_domains)
    if rule not in GPU_RULES:
        return {"mem_mb": 4000, "runtime": 30, "cpus_per_task": 1}
    # A model rule asks for its GPU itself (not only through the profile's set-resources), so the rules of a
    # replicate's module (replicate<i>_finetune, ...) ask too.
    if config["base_model"] == "tiny":
        return {"mem_mb": 4000, "runtime": 30, "cpus_per_task": 2, "gpu": 1}
    size = model_params_billions(config) if params_b is None else params_b
    return {"mem_mb": int(16000 + 6000 * size),
            "runtime": int(15 + 2 * gpu_minutes(config, rule, n_domains, domains_in_job, size, answers_per_pair)),
            "cpus_per_task": 8, "gpu": 1}


def analysis_resources(config: dict, n_domains: int) -> dict:
    """`baselines` and `metrics`: memory grows with the prediction rows (pairs x (3 R + model methods)), time with the
    bootstrap work (pairs x R x resamples); the bootstrap itself runs in fixed-size batches, so its memory
    does not grow with the resample count. Per-unit figures measured with `python -m metasft.bench.metrics`
    (about 300 bytes per prediction row at peak, 5 ns per pair x permutation x resample), doubled for headroom.
    """
    metrics = config["metrics"]
    pairs = n_domains ** 2
    model_methods = 2 if config["nl"]["enabled"] is False else 5  # auto: sized as if the suite has descriptions
    rows = pairs * (3 * metrics["permutations"] + model_methods)
    seconds = 5e-9 * (3 * metrics["permutations"] + model_methods) * pairs * metrics["bootstrap_resamples"]
    return {"mem_mb": int(1000 + 2 * rows * 300 / 1e6), "runtime": int(15 + 2 * seconds / 60), "cpus_per_task": 1}


def score_resources(config: dict, n_domains: int, domains_in_job: int, answers_per_pair: float | None = None) -> dict:
    """Scoring jobs: tiny for the option parser; a GPU-sized job for a local judge model; long-lived but
    small for the Anthropic judge (a Message Batch may take up to 24 hours to end)."""
    judge = config["judge"]
    answers = domains_in_job * work_units(config, "golden", n_domains, 1, answers_per_pair) * 100
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
