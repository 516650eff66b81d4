"""Metrics combined over replicates (`results/<run>/replicates/metrics.csv`, `comparisons.csv`).

Each replicate is the whole pipeline with other training seeds on the same pairs (`metasft.pipeline.replicates`),
so a statistic varies with the domains drawn and with training. The combined estimate of a statistic is its mean
over the replicates; its interval resamples replicates, then domains: resample b draws N replicates with
replacement (`numpy.random.default_rng(derived_seed(seed, "replicates", quadrant)).integers(0, N, size=(B, N))`)
and averages their statistics on domain resample b, the same domain draw for every replicate (each replicate is
resampled with the seeds of its own metrics stage, on the pairs every replicate predicted). Comparisons say in how
many replicates the difference has the combined difference's sign (`same_sign_replicates`), and the primary family
is Holm-adjusted as in a single run.
"""
from __future__ import annotations

import math

import numpy as np
import polars as pl

from metasft.analysis.comparisons import (
    EVALUATION_QUADRANTS,
    PRIMARY,
    Primary,
    compared_pairs,
    comparison_rows,
    comparisons_frame,
)
from metasft.analysis.metrics import STATISTICS, common_pairs, pair_set_bootstrap, quadrant_data
from metasft.analysis.resampling import PairDesign
from metasft.analysis.statistics import BOOTSTRAP_BATCH, percentile_interval
from metasft.pipeline.seeds import derived_seed
from metasft.sources import METHODS
from metasft.suites.domains import QUADRANTS

SHORT = {"rmse": "rmse", "pearson_r": "pearson", "spearman_rho": "spearman"}


def combined_tables(predictions: list[pl.DataFrame], n_resamples: int, confidence: float, seed: int,
                    resample: str = "domains", primary: Primary = PRIMARY,
                    batch: int = BOOTSTRAP_BATCH) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The combined metrics table and comparisons from each replicate's `metrics/predictions.parquet` rows
    (method, permutation, train_domain, eval_domain, y_hat, y_ref, quadrant), replicate 0 first."""
    n = len(predictions)
    rows, comparisons = [], []
    for quadrant in QUADRANTS:
        parts = [p.filter(pl.col("quadrant") == quadrant) for p in predictions]
        if any(part.is_empty() for part in parts):
            continue
        common = common_pairs(parts[0])[0]
        for part in parts[1:]:
            common = common.join(common_pairs(part)[0], on=["train_domain", "eval_domain"])
        common = common.sort("train_domain", "eval_domain")
        methods = [m for m in METHODS if all(m in set(part["method"]) for part in parts)]
        design = PairDesign.of_quadrant(quadrant, common["train_domain"], common["eval_domain"])
        per_replicate = [pair_set_bootstrap(quadrant_data(part, common, methods), design, n_resamples,
                                            derived_seed(seed, "bootstrap", quadrant), batch, resample)
                         for part in parts]
        draws = np.random.default_rng(derived_seed(seed, "replicates", quadrant)).integers(0, n, size=(n_resamples, n))
        points = {m: {k: float(np.mean([p[m][k] for p, _ in per_replicate])) for k in STATISTICS} for m in methods}
        resampled = {m: {k: _two_stage([r[m][k] for _, r in per_replicate], draws) for k in STATISTICS}
                     for m in methods}
        for method in methods:
            row = {"method": method, "quadrant": quadrant, "resample": resample, "replicates": n,
                   "n_pairs": common.height}
            for name, short in SHORT.items():
                low, high = (percentile_interval(resampled[method][name], confidence) if resampled[method][name].size
                             else (math.nan, math.nan))
                row[name], row[f"{short}_lo"], row[f"{short}_hi"] = points[method][name], low, high
                row[f"{name}_by_replicate"] = ";".join(f"{p[method][name]:.4g}" for p, _ in per_replicate)
            rows.append(row)
        if quadrant in EVALUATION_QUADRANTS:
            comparisons += comparison_rows(quadrant, compared_pairs(methods, primary),
                                           points, resampled, common.height, confidence, resample,
                                           replicate_points=[p for p, _ in per_replicate])
    # the diagonal-free differences are each replicate's own (comparisons.csv of its metrics stage)
    combined = comparisons_frame(comparisons, primary, confidence).drop("rmse_diff_offdiag", "diff_offdiag_lo",
                                                                        "diff_offdiag_hi")
    return pl.DataFrame(rows, infer_schema_length=None), combined


def _two_stage(arrays: list[np.ndarray], draws: np.ndarray) -> np.ndarray:
    """Resample b: the mean over the replicates drawn for b of their statistic on domain resample b."""
    if not arrays or arrays[0].size == 0:
        return np.empty(0)
    stacked = np.stack(arrays)  # (replicates, resamples)
    return stacked[draws, np.arange(stacked.shape[1])[:, None]].mean(axis=1)


def combine_replicates(prediction_paths: list[str], *, metrics_path, comparisons_path, n_resamples: int,
                       confidence: float, seed: int, resample: str = "domains",
                       primary: dict | None = None) -> pl.DataFrame:
    """Rule `combine_replicates`: the metrics and comparisons over every replicate of the run."""
    from metasft.pipeline.io import read_parquet, write_csv

    predictions = [read_parquet(p, columns=["method", "permutation", "train_domain", "eval_domain", "y_hat", "y_ref",
                                            "quadrant"]) for p in prediction_paths]
    table, comparisons = combined_tables(predictions, n_resamples, confidence, seed, resample,
                                         Primary.from_config(primary))
    if table.is_empty():
        raise ValueError(f"the replicates' predictions ({', '.join(prediction_paths)}) share no quadrant")
    write_csv(comparisons, comparisons_path)
    write_csv(table, metrics_path)
    return table
