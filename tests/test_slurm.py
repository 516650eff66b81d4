"""The tiny pipeline through the repository's SLURM profile against a real slurmctld (tests/slurm/).

Needs a running single-node cluster: `bash tests/slurm/start_cluster.sh` (CI does this and sets
METASFT_SLURM_TESTS=1, so there a missing cluster fails instead of skipping).
"""

import os
import re
import shutil
import subprocess

import pytest
from conftest import snakemake

GPU_RULES = {"pretrain_base", "finetune", "golden", "predict_icl", "meta_train", "predict_metasft", "predict_nl",
             "predict_metasft_to_nl", "meta_train_nl", "predict_metasft_nl", "inverse_likelihoods"}
CPU_RULES = {"suite", "score", "meta_shards", "meta_shards_nl", "baselines", "metrics", "plots", "nl_plots", "inverse"}


def cluster_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return result.returncode == 0 and bool(re.search(r"idle|mixed|alloc", result.stdout))


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not cluster_up() and not os.environ.get("METASFT_SLURM_TESTS"),
                       reason="no SLURM cluster (bash tests/slurm/start_cluster.sh)"),
]


def test_tiny_pipeline_through_the_slurm_profile(mini_run, tmp_path):
    assert cluster_up(), "SLURM is not running"
    from conftest import copy_workflow

    workdir = copy_workflow(tmp_path / "wf")
    fail_once = workdir / "config" / "fail_once.yaml"
    fail_once.write_text("testing:\n  fail_once: [baselines]\n")
    result = snakemake(workdir, "--profile", "profiles/slurm", "--workflow-profile", "tests/slurm/ci",
                       "--configfile", "tests/configs/mini.yaml", "config/fail_once.yaml", "--verbose")
    output = result.stdout + result.stderr

    calls = re.findall(r"sbatch call: (.*)", output)
    by_rule: dict[str, list[str]] = {}
    for call in calls:
        rule = re.search(r"--comment '?rule_([a-z_]+?)(?:_wildcards_[^' ]*)?'? ", call).group(1)
        by_rule.setdefault(rule, []).append(call)
    # every job went through sbatch: 39 jobs of the mini DAG (all but the local target rule; 15 of them the NL
    # methods', 3 inverse prediction's), and one retry
    assert set(by_rule) == GPU_RULES | CPU_RULES
    assert len(calls) == 39 + 1
    assert len(by_rule["baselines"]) == 2, "the injected failure was not retried"
    assert (workdir / "results" / "mini" / ".faults" / "baselines").exists()  # its first attempt did fail
    for rule, rule_calls in by_rule.items():
        for call in rule_calls:
            asks_gpu = bool(re.search(r"--gpus[= ]1|--gres[= ]'?gpu:1", call))
            assert asks_gpu == (rule in GPU_RULES), f"{rule}: {call}"

    # the same seeds give the same results as the local run
    for table in ["metrics/metrics.csv", "metrics/generalization.json"]:
        cluster = (workdir / "results" / "mini" / table).read_bytes()
        local = (mini_run / "results" / "mini" / table).read_bytes()
        assert cluster == local, table
