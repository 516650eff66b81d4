"""Provenance of a run (`run_info.json`): what software on what machine computed it, so that two users whose
numbers differ can see why.

Bit-for-bit reproducibility holds only for the same machine type and software: every random choice is seeded, but
torch's kernels differ between CPU capabilities (AVX2 vs AVX-512 reductions) and GPUs, and float rounding that
differs in the last bit compounds through pretraining, fine-tuning and sampling into different answers. So a run
records, per training job (the environment in each model's `training.json`) and for the machine that wrote the
file: package versions, the torch build, the CPU capability torch dispatches to, threads, the GPU; and a hash of the
run's whole config.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("metasft", "torch", "transformers", "peft", "trl", "accelerate", "datasets", "numpy", "scipy", "polars",
            "snakemake", "snakemake-executor-plugin-slurm", "anthropic", "vllm")
# Model folders whose training job records its environment, relative to results/<run>/, as glob patterns.
TRAINED_MODELS = ("base_model", "finetune/*/*", "meta/adapter", "meta_nl/adapter")
INFO_FILES = ("training.json", "pretraining.json")

REPRODUCIBILITY = (
    "Bit for bit: the same config (config_sha256), the same package versions and the same machine type (CPU "
    "capability, GPU, threads) give byte-identical results. Across machine types, float rounding differs in the "
    "last bits and compounds through training and sampling: expect different answers and numbers within the "
    "variance of training (replicates), not identical ones.")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(with_torch: bool = True) -> dict:
    """This process's software and machine. `with_torch` imports torch for its build and devices (about 2 s where it
    is not loaded yet)."""
    info = {
        "python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
        "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
        "packages": {p: v for p in PACKAGES if (v := _version(p)) is not None},
    }
    if with_torch or "torch" in sys.modules:
        try:
            import torch
        except ImportError:  # an environment without torch (the analysis rules' conda env)
            info["torch"] = None
            return info
        info["torch"] = {
            "version": torch.__version__, "cuda": torch.version.cuda, "git": getattr(torch.version, "git_version", None),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if torch.cuda.is_available() else [],
        }
    return info


def config_hash(config: dict) -> str:
    """sha256 of the config as canonical JSON (sorted keys): equal for equal settings, whatever the file layout."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def job_environments(results: str | os.PathLike) -> list[dict]:
    """The distinct environments the run's training jobs recorded, each with the model folders it trained."""
    results = Path(results)
    groups: dict[str, dict] = {}
    for pattern in TRAINED_MODELS:
        for folder in sorted(results.glob(pattern)):
            for name in INFO_FILES:
                path = folder / name
                if not path.is_file():
                    continue
                try:
                    recorded = json.loads(path.read_text()).get("environment")
                except (OSError, ValueError) as error:
                    raise ValueError(f"{path} is damaged ({error}): rebuild it with snakemake --forcerun on the "
                                     "rule that wrote its folder") from None
                if recorded:
                    key = json.dumps(recorded, sort_keys=True)
                    groups.setdefault(key, {"environment": recorded, "models": []})["models"].append(
                        str(folder.relative_to(results)))
    return list(groups.values())


def run_info(results, output, *, config: dict) -> dict:
    """Rule `run_info`: the run's config (which holds no secret: the workflow refuses one) and its hash, the
    training jobs' environments and this machine's. `metasft ask --run` reads the config back."""
    from metasft.pipeline.io import write_json
    from metasft.pipeline.replicates import replicate_index, training_seed

    info = {"run": config.get("run"), "config_sha256": config_hash(config),
            "replicates": int(config.get("replicates", 1)), "replicate": replicate_index(config),
            "training_seed": training_seed(config),
            "metrics_resample": config.get("metrics", {}).get("resample"),
            "training_jobs": job_environments(results), "written_by": environment(with_torch=True),
            "reproducibility": REPRODUCIBILITY, "config": config}
    write_json(info, output)
    return info
