"""Benchmark the analysis stages at any scale on synthetic golden scores: baselines, then the metrics table
and paired comparisons, each in its own process (as the `baselines` and `metrics` rules run).

    python -m metasft.bench.metrics [--domains 100] [--answers 16] [--permutations 100] [--resamples 2000]
                                    [--resample domains|pairs]

Prints per stage `<stage>_seconds:` and `<stage>_peak_memory_mb:` (the process's max RSS). Synthetic scores are
0/100 answers whose rate depends on T and E (so correlations and ties look like a categorical suite's).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl


def synthetic_scores(n_domains: int, answers: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    domains = [f"d{i:03d}" for i in range(n_domains)]
    train, evals = np.meshgrid(np.arange(n_domains), np.arange(n_domains), indexing="ij")
    rate = np.clip(0.2 + 0.6 * (train % 8 == evals % 8) + rng.normal(0, 0.1, train.shape), 0.02, 0.98).ravel()
    n_pairs = rate.size
    hits = rng.random((n_pairs, answers)) < rate[:, None]
    frame = pl.DataFrame({
        "train_domain": np.repeat(np.array(domains)[train.ravel()], answers),
        "eval_domain": np.repeat(np.array(domains)[evals.ravel()], answers),
        "question_index": np.tile(np.arange(answers, dtype=np.int32) // 2, n_pairs),
        "sample_index": np.tile(np.arange(answers, dtype=np.int32) % 2, n_pairs),
        "status": "ok",
        "score": np.where(hits, 100.0, 0.0).ravel(),
    })
    half = n_domains // 2
    split = {d: "meta_train" if i < half else "meta_eval" for i, d in enumerate(domains)}
    pairs = pl.DataFrame({"train_domain": np.array(domains)[train.ravel()],
                          "eval_domain": np.array(domains)[evals.ravel()]}).with_columns(
        quadrant=pl.concat_str(pl.col("train_domain").replace_strict(split).str.slice(5), pl.lit("_"),
                               pl.col("eval_domain").replace_strict(split).str.slice(5)))
    return frame, pairs


def stage(name: str, args) -> None:
    from metasft.analysis.baselines import all_baselines, model_predictions
    from metasft.analysis.metrics import metrics_table

    folder = Path(args.workdir)
    started = time.monotonic()
    if name == "baselines":
        golden, _ = synthetic_scores(args.domains, args.answers)
        all_baselines(golden, args.permutations, seed=0).write_parquet(folder / "baselines.parquet")
    else:
        golden, pairs = synthetic_scores(args.domains, args.answers)
        propensity = golden.group_by("train_domain", "eval_domain").agg(propensity=pl.col("score").mean())
        rng = np.random.default_rng(1)
        models = [model_predictions(method, propensity.with_columns(
            propensity=(pl.col("propensity") + pl.Series(rng.normal(0, spread, propensity.height))).clip(0, 100)),
            propensity) for method, spread in (("UntrainedICL", 15.0), ("MetaSFT", 10.0))]
        predictions = pl.concat([pl.read_parquet(folder / "baselines.parquet"), *models])
        table, comparisons = metrics_table(predictions, pairs, {}, args.resamples, 0.95, seed=0,
                                           resample=args.resample)
        table.write_csv(folder / "metrics.csv")
        comparisons.write_csv(folder / "comparisons.csv")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{name}_seconds: {time.monotonic() - started:.1f}")
    print(f"{name}_peak_memory_mb: {peak:.0f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domains", type=int, default=100)
    parser.add_argument("--answers", type=int, default=16, help="scored golden answers per pair")
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--resample", choices=["domains", "pairs"], default="domains",
                        help="the bootstrap's unit (config metrics.resample)")
    parser.add_argument("--stage", choices=["baselines", "metrics"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        stage(args.stage, args)
        return 0
    import subprocess

    with tempfile.TemporaryDirectory() as workdir:
        print(f"domains: {args.domains}, pairs: {args.domains ** 2}, answers per pair: {args.answers}, "
              f"permutations: {args.permutations}, resamples: {args.resamples}")
        for name in ("baselines", "metrics"):
            subprocess.run([sys.executable, "-m", "metasft.bench.metrics", "--stage", name, "--workdir", workdir,
                            *(f"--{k}={v}" for k, v in (("domains", args.domains), ("answers", args.answers),
                                                        ("permutations", args.permutations),
                                                        ("resamples", args.resamples),
                                                        ("resample", args.resample)))], check=True)
        with pl.Config(tbl_cols=-1, tbl_width_chars=160, tbl_rows=-1):
            print(pl.read_csv(Path(workdir) / "comparisons.csv").select(
                "quadrant", "baseline", "family", "n_pairs", "rmse_method", "rmse_baseline", "rmse_diff", "diff_lo",
                "diff_hi", "p_holm"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
