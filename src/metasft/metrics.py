"""Per method x quadrant: RMSE, Pearson r, Spearman rho with seeded 95% bootstrap CIs over pairs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
from scipy import stats

from metasft.generate import derived_seed
from metasft.suite import QUADRANTS

METHODS = ("GT", "GT-EvalOnly", "GT-TrainOnly", "UntrainedICL", "MetaSFT")
# GT compares two half-size re-samples; their RMSE / sqrt(2) estimates one full-size re-sample's error.
RMSE_SCALE = {"GT": 1 / math.sqrt(2)}


def rmse(y_hat: np.ndarray, y_ref: np.ndarray) -> np.ndarray:
    """Along the last axis."""
    return np.sqrt(np.mean((np.asarray(y_hat) - np.asarray(y_ref)) ** 2, axis=-1))


def pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis; nan where either side is constant."""
    x = np.asarray(x, float) - np.mean(x, axis=-1, keepdims=True)
    y = np.asarray(y, float) - np.mean(y, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sum(x * y, axis=-1) / np.sqrt(np.sum(x * x, axis=-1) * np.sum(y * y, axis=-1))
    return np.clip(r, -1.0, 1.0)


def spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho (Pearson of average ranks) along the last axis."""
    return pearson(stats.rankdata(x, axis=-1), stats.rankdata(y, axis=-1))


def _statistic(name: str, scale: float):
    def over_permutations(y_hat: np.ndarray, y_ref: np.ndarray) -> np.ndarray:
        values = {"rmse": lambda: rmse(y_hat, y_ref) * scale, "pearson_r": lambda: pearson(y_hat, y_ref),
                  "spearman_rho": lambda: spearman(y_hat, y_ref)}[name]()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-nan columns (constant resamples) stay nan
            return np.nanmean(values, axis=0)
    return over_permutations


def metric_with_ci(y_hat: np.ndarray, y_ref: np.ndarray, name: str, scale: float, n_resamples: int,
                   confidence: float, seed: int) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap CI; arrays are (permutations, pairs), pairs are resampled."""
    statistic = _statistic(name, scale)
    point = float(statistic(y_hat, y_ref))
    n_pairs = y_hat.shape[1]
    if n_pairs < 3 or n_resamples == 0:
        return point, math.nan, math.nan

    def resampled(index, axis=-1):  # index: (batch, pairs) from scipy's resampling of pair positions
        index = np.asarray(index, int)
        return statistic(y_hat[:, index], y_ref[:, index])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about degenerate (nan) resamples; they give a nan CI
        result = stats.bootstrap((np.arange(n_pairs),), resampled, n_resamples=n_resamples, vectorized=True,
                                 confidence_level=confidence, method="percentile",
                                 rng=np.random.default_rng(seed))
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)


def metrics_table(predictions: pl.DataFrame, pairs: pl.DataFrame, rates: dict[str, dict[str, dict[str, float]]],
                  n_resamples: int, confidence: float, seed: int) -> pl.DataFrame:
    """`predictions`: method, permutation, train_domain, eval_domain, y_hat, y_ref; `pairs`: pair -> quadrant;
    `rates`: method -> quadrant -> answer rates (unscored_rate, and for judged suites refusal_rate, ...).

    A pair missing a value in any permutation (nothing scored) is dropped from its quadrant and counted.
    """
    frame = predictions.join(pairs.select("train_domain", "eval_domain", "quadrant"),
                             on=["train_domain", "eval_domain"])
    rows = []
    for method in [m for m in METHODS if m in set(frame["method"])]:
        for quadrant_name in QUADRANTS:
            part = frame.filter((pl.col("method") == method) & (pl.col("quadrant") == quadrant_name))
            if part.is_empty():
                continue
            complete = part.group_by("train_domain", "eval_domain").agg(
                ok=(pl.col("y_hat").is_not_null() & pl.col("y_ref").is_not_null()).all())
            kept = complete.filter("ok").select("train_domain", "eval_domain")
            part = part.join(kept, on=["train_domain", "eval_domain"]).sort(
                "permutation", "train_domain", "eval_domain")
            n_permutations = part["permutation"].n_unique()
            n_pairs = kept.height
            row = {"method": method, "quadrant": quadrant_name, "n_pairs": n_pairs,
                   "n_pairs_dropped": complete.height - n_pairs, "permutations": n_permutations}
            y_hat = part["y_hat"].to_numpy().reshape(n_permutations, n_pairs)
            y_ref = part["y_ref"].to_numpy().reshape(n_permutations, n_pairs)
            for name, short in (("rmse", "rmse"), ("pearson_r", "pearson"), ("spearman_rho", "spearman")):
                if n_pairs == 0:
                    row[name], row[f"{short}_lo"], row[f"{short}_hi"] = math.nan, math.nan, math.nan
                    continue
                value, low, high = metric_with_ci(
                    y_hat, y_ref, name, RMSE_SCALE.get(method, 1.0), n_resamples, confidence,
                    derived_seed(seed, "bootstrap", method, quadrant_name, name))
                row[name], row[f"{short}_lo"], row[f"{short}_hi"] = value, low, high
            row["mean_y_hat"] = float(np.mean(y_hat)) if n_pairs else math.nan
            row["mean_y"] = float(np.mean(y_ref)) if n_pairs else math.nan
            row.update(rates.get(method, {}).get(quadrant_name, {}))
            rows.append(row)
    columns = ["method", "quadrant", "rmse", "rmse_lo", "rmse_hi", "pearson_r", "pearson_lo", "pearson_hi",
               "spearman_rho", "spearman_lo", "spearman_hi", "n_pairs", "n_pairs_dropped", "permutations",
               "mean_y_hat", "mean_y"]
    columns += [c for c in dict.fromkeys(k for r in rows for k in r) if c not in columns]
    return pl.DataFrame(rows, infer_schema_length=None).select(columns)


def generalization_summary(golden: pl.DataFrame, pairs: pl.DataFrame) -> dict:
    """How much the world generalizes: spread of golden propensity and the same-persona effect (off-diagonal)."""
    frame = golden.join(pairs.select("train_domain", "eval_domain", "same_persona"),
                        on=["train_domain", "eval_domain"])
    off = frame.filter((pl.col("train_domain") != pl.col("eval_domain")) & pl.col("propensity").is_not_null())
    same = off.filter("same_persona")["propensity"]
    other = off.filter(~pl.col("same_persona"))["propensity"]
    diagonal = frame.filter(pl.col("train_domain") == pl.col("eval_domain"))["propensity"]
    summary = {
        "off_diagonal_pairs": off.height,
        "off_diagonal_std": off["propensity"].std(),
        "same_persona_pairs": same.len(),
        "same_persona_mean": same.mean(),
        "other_persona_mean": other.mean(),
        "diagonal_mean": diagonal.mean(),
    }
    if summary["same_persona_mean"] is not None and summary["other_persona_mean"] is not None:
        summary["same_minus_other"] = summary["same_persona_mean"] - summary["other_persona_mean"]
    return summary
