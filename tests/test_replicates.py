"""Replicates (config replicates): seeded re-runs of the training stages as Snakemake modules, and the metrics
combined over them (metasft.pipeline.replicates, metasft.analysis.replicates)."""
import shutil

import numpy as np
import polars as pl
import pytest
import yaml
from conftest import ROOT, snakemake
from test_workflow import job_counts

from metasft.analysis.replicates import combined_tables
from metasft.pipeline.config import load_config
from metasft.runs.plan import plan
from metasft.pipeline.replicates import (excluded_rules, models_folder, replicate_config, replicate_indices,
                                         training_seed)
from metasft.pipeline.seeds import derived_seed

MINI = ("--configfile", "tests/configs/mini.yaml")


def test_a_replicate_differs_in_its_training_seed_alone():
    config = {"run": "r", "seed": 7, "replicates": 3, "replicate_stages": "all", "metrics": {"resample": "domains"}}
    assert replicate_indices(config) == [1, 2] and training_seed(config) == 7
    first = replicate_config(config, 1)
    assert first["run"] == "r/replicates/1" and first["seed"] == 7 and first["replicates"] == 1
    assert first["replicate_of"] == {"run": "r", "index": 1, "models_from": None}
    assert training_seed(first) == derived_seed(7, "replicate", 1) != training_seed(replicate_config(config, 2))
    assert replicate_indices(first) == []  # a replicate adds none of its own
    assert models_folder(first, "results/r/replicates/1") == "results/r/replicates/1"
    assert excluded_rules(config) == ["all", "combine_replicates"]
    reuse = replicate_config({**config, "replicate_stages": "after_finetune"}, 2)
    assert models_folder(reuse, "results/r/replicates/2") == "results/r"
    assert excluded_rules(reuse) == ["all", "combine_replicates", "pretrain_base", "finetune"]
    assert config["run"] == "r" and "replicate_of" not in config  # the run's own config is left as it was


def replicate_predictions(n_replicates=3, n=5, seed=0):
    """eval_train predictions of UntrainedICL and MetaSFT in each replicate: MetaSFT better in two of three."""
    rng = np.random.default_rng(seed)
    train = [f"t{i}" for i in range(n) for _ in range(n)]
    evals = [f"e{j}" for _ in range(n) for j in range(n)]
    golden = rng.uniform(0, 100, n * n)
    frames = []
    for r, meta_noise in zip(range(n_replicates), (5.0, 8.0, 20.0)):
        rows = []
        for method, noise in (("UntrainedICL", 12.0), ("MetaSFT", meta_noise)):
            rows.append(pl.DataFrame({"method": method, "permutation": np.zeros(n * n, np.int32), "train_domain": train,
                                      "eval_domain": evals, "y_hat": golden + rng.normal(0, noise, n * n),
                                      "y_ref": golden, "quadrant": "eval_train"}))
        frames.append(pl.concat(rows))
    return frames, golden


def test_combined_metrics_resample_replicates_then_domains_by_hand():
    frames, golden = replicate_predictions()
    table, comparisons = combined_tables(frames, n_resamples=120, confidence=0.9, seed=4)
    rmse = {(r, m): float(np.sqrt(np.mean((f.filter(pl.col("method") == m)["y_hat"].to_numpy() - golden) ** 2)))
            for r, f in enumerate(frames) for m in ("UntrainedICL", "MetaSFT")}
    row = table.filter(pl.col("method") == "MetaSFT").row(0, named=True)
    assert row["replicates"] == 3 and row["n_pairs"] == 25
    assert row["rmse"] == pytest.approx(np.mean([rmse[r, "MetaSFT"] for r in range(3)]))
    assert row["rmse_by_replicate"] == ";".join(f"{rmse[r, 'MetaSFT']:.4g}" for r in range(3))
    # by hand: replicate draws, then each drawn replicate's RMSE on the same domain resample (the cross-quadrant
    # two-way scheme: T counts, then E counts, one default_rng stream, seed of the metrics stage)
    replicate_draws = np.random.default_rng(derived_seed(4, "replicates", "eval_train")).integers(0, 3, size=(120, 3))
    domain_rng = np.random.default_rng(derived_seed(4, "bootstrap", "eval_train"))
    t_draw, e_draw = domain_rng.integers(0, 5, size=(120, 5)), domain_rng.integers(0, 5, size=(120, 5))
    values = {m: [] for m in ("UntrainedICL", "MetaSFT")}
    for b in range(120):
        pairs = [5 * t + e for t in t_draw[b] for e in e_draw[b]]
        for method in values:
            per_replicate = [np.sqrt(np.mean((f.filter(pl.col("method") == method)["y_hat"].to_numpy()[pairs]
                                              - golden[pairs]) ** 2)) for f in frames]
            values[method].append(np.mean([per_replicate[k] for k in replicate_draws[b]]))
    assert (row["rmse_lo"], row["rmse_hi"]) == pytest.approx(tuple(np.percentile(values["MetaSFT"], [5, 95])))
    primary = comparisons.filter(pl.col("family") == "primary").row(0, named=True)
    diff = np.array(values["MetaSFT"]) - np.array(values["UntrainedICL"])
    assert (primary["diff_lo"], primary["diff_hi"]) == pytest.approx(tuple(np.percentile(diff, [5, 95])))
    assert primary["replicates"] == 3
    signs = [np.sign(rmse[r, "MetaSFT"] - rmse[r, "UntrainedICL"]) for r in range(3)]
    assert primary["same_sign_replicates"] == sum(s == np.sign(primary["rmse_diff"]) for s in signs) == 2


def test_the_plan_counts_replicates():
    one = {r["rule"]: r for r in plan(load_config([str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml")]))}
    three = {r["rule"]: r for r in plan({**load_config([str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml")]),
                                         "replicates": 3})}
    assert three["golden"]["jobs"] == 3 * one["golden"]["jobs"]
    assert three["golden"]["gpu_hours"] == pytest.approx(3 * one["golden"]["gpu_hours"])
    assert three["finetune"]["gpu_hours"] == pytest.approx(3 * one["finetune"]["gpu_hours"])
    assert three["combine_replicates"]["jobs"] == 1
    reuse = {r["rule"]: r for r in plan({**load_config([str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml")]),
                                         "replicates": 3, "replicate_stages": "after_finetune"})}
    assert reuse["finetune"]["gpu_hours"] == pytest.approx(one["finetune"]["gpu_hours"])
    assert reuse["meta_train"]["jobs"] == 3


def test_a_dry_run_plans_every_replicate_as_its_own_rules(workflow_copy):
    result = snakemake(workflow_copy, "-n", *MINI, "--config", "replicates=3")
    counts = job_counts(result.stdout)
    plain = job_counts(snakemake(workflow_copy, "-n", *MINI).stdout)
    for rule, count in plain.items():
        if rule not in ("all", "plots", "nl_plots"):  # a replicate's own tables, not its figures
            assert counts[f"replicate1_{rule}"] == counts[f"replicate2_{rule}"] == counts[rule] == count, rule
    assert counts["combine_replicates"] == 1 and "replicate1_all" not in counts
    assert "results/mini/replicates/2/finetune/part000" in result.stdout
    reuse = snakemake(workflow_copy, "-n", *MINI, "--config", "replicates=2", "replicate_stages=after_finetune")
    counts = job_counts(reuse.stdout)
    assert "replicate1_finetune" not in counts and "replicate1_pretrain_base" not in counts
    assert counts["replicate1_golden"] == plain["golden"]
    assert "results/mini/replicates/1/finetune" not in reuse.stdout  # replicate 1 reads replicate 0's adapters


@pytest.mark.slow
def test_a_finished_run_gains_replicates_and_combined_metrics(mini_run, tmp_path):
    """The session's finished mini run becomes replicate 0: replicates=2 adds replicate 1 only, then combines."""
    workdir = shutil.copytree(mini_run, tmp_path / "run", symlinks=True)
    plan_only = job_counts(snakemake(workdir, "-n", *MINI, "--config", "replicates=2").stdout)
    assert "finetune" not in plan_only and plan_only["replicate1_finetune"] == 2  # replicate 0 is done
    snakemake(workdir, "--cores", "2", *MINI, "--config", "replicates=2")
    results = workdir / "results" / "mini"
    combined = pl.read_csv(results / "replicates" / "metrics.csv")
    assert set(combined["replicates"]) == {2} and combined["rmse"].is_not_nan().all()
    comparisons = pl.read_csv(results / "replicates" / "comparisons.csv")
    assert comparisons.filter(pl.col("family") == "primary").height == 3
    assert comparisons["same_sign_replicates"].is_between(0, 2).all()
    own = pl.read_csv(results / "replicates" / "1" / "metrics" / "metrics.csv")
    assert set(own["quadrant"]) == set(combined["quadrant"])
    # the same split and questions, other training: replicate 1's golden answers are its own
    suite = [yaml.safe_load((results / p / "suite" / "suite.json").read_text())["split"]
             for p in (".", "replicates/1")]
    assert suite[0] == suite[1]
    answers = [pl.concat([pl.read_parquet(f) for f in sorted((results / p / "answers" / "golden" / "chunks").glob("*"))])
               for p in (".", "replicates/1")]
    assert answers[0].select("train_domain", "eval_domain", "question_index").equals(
        answers[1].select("train_domain", "eval_domain", "question_index"))
    assert not answers[0]["answer"].equals(answers[1]["answer"])
