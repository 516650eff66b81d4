"""Replicates: the pipeline run again with other training seeds, so a claim can be checked against the variance of
training itself (pretraining, ObjectSFT, sampling, the choice of ICL examples, meta-training).

`replicates: N` keeps the run itself as replicate 0 (results/<run>/, unchanged, so a finished run becomes the first
replicate) and adds replicates 1..N-1 under results/<run>/replicates/<i>/, each the whole pipeline as a Snakemake
module whose config differs in `replicate_of` alone. Every training stage of replicate i draws from
`training_seed(config)`, derived from (seed, "replicate", i); what is data and evaluation stays shared: the suite,
its split, descriptions and API-generated areas, the GT baselines' permutations and the bootstrap draws (`seed`), so
replicates differ by training alone and their pairs and quadrants are the same.

`replicate_stages: after_finetune` (a GPU budget option) replicates only what follows the fine-tunes: every
replicate reuses replicate 0's base model and ObjectSFT adapters and redraws the golden samples, ICL examples,
meta-training and predictions. Left out then: the variance of pretraining and of the fine-tunes themselves (a
different adapter per seed), usually the larger part of a golden label's variance across seeds.
"""
from __future__ import annotations

import copy

from metasft.pipeline.seeds import derived_seed

REPLICATE_STAGES = ("all", "after_finetune")
# What a replicate that reuses replicate 0's models leaves out of its own DAG.
REUSED_RULES = ("pretrain_base", "finetune")


def replicate_index(config: dict) -> int:
    """0 for the run itself, i for its i-th replicate."""
    return int((config.get("replicate_of") or {}).get("index", 0))


def training_seed(config: dict) -> int:
    """The seed of every training stage: the config's own for replicate 0, derived per replicate otherwise."""
    index = replicate_index(config)
    return config["seed"] if index == 0 else derived_seed(config["seed"], "replicate", index)


def replicate_indices(config: dict) -> list[int]:
    """The replicates this run adds (none inside a replicate)."""
    return [] if config.get("replicate_of") else list(range(1, int(config.get("replicates", 1))))


def replicate_run(run: str, index: int) -> str:
    return f"{run}/replicates/{index}"


def replicate_config(config: dict, index: int) -> dict:
    """Replicate `index`'s config: the run's own, with `replicate_of` naming the run, the index and, for
    `replicate_stages: after_finetune`, the results folder whose models it reuses."""
    out = copy.deepcopy(config)
    out["run"] = replicate_run(config["run"], index)
    out["replicates"] = 1
    reuse = config.get("replicate_stages", "all") == "after_finetune"
    out["replicate_of"] = {"run": config["run"], "index": index,
                           "models_from": f"results/{config['run']}" if reuse else None}
    return out


def models_folder(config: dict, results: str) -> str:
    """Where this run's base model and ObjectSFT adapters live: its own results, or replicate 0's when reused."""
    return (config.get("replicate_of") or {}).get("models_from") or results


def excluded_rules(config: dict) -> list[str]:
    """Rules of a replicate's module left out of the workflow: its `all`, and the reused stages' rules."""
    return ["all", "combine_replicates",
            *(REUSED_RULES if config.get("replicate_stages", "all") == "after_finetune" else ())]
