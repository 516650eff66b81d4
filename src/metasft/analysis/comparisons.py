"""Paired comparisons of methods (`comparisons.csv`): one method's RMSE minus a baseline's on the same resamples,
with a percentile CI and a bootstrap p-value, and the primary comparison named before the others. With replicates
(`metasft.analysis.replicates`) a row also says in how many replicates the difference has the same sign.

The primary comparison (config `metrics.primary`; default MetaSFT minus UntrainedICL in the three evaluation
quadrants, the study's claim) is one family: its cells' p-values are Holm-adjusted (family-wise error at most
1 - confidence), and its rows also carry simultaneous (Bonferroni) intervals, each at confidence 1 - (1 -
confidence) / m for m cells. Every other row is exploratory: its CI and p-value are nominal, one cell at a time.

Bootstrap p-value of a difference d with resampled differences d*_1..d*_B (two-sided, the percentile interval's
dual): p = min(1, 2 (min(#{d* >= 0}, #{d* <= 0}) + 1) / (B + 1)); a CI that excludes zero at level c has p below
about 1 - c.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from metasft.analysis.statistics import percentile_interval
from metasft.sources import FOCUS_METHOD, METHODS, OWN_COMPARISONS
from metasft.suites.domains import QUADRANTS

EVALUATION_QUADRANTS = tuple(q for q in QUADRANTS if q != "train_train")


@dataclass(frozen=True)
class Primary:
    """The comparison named before the others: `method` minus `baseline` in each of `quadrants`."""
    method: str = FOCUS_METHOD
    baseline: str = "UntrainedICL"
    quadrants: tuple[str, ...] = EVALUATION_QUADRANTS

    @classmethod
    def from_config(cls, section: dict | None) -> "Primary":
        section = section or {}
        return cls(section.get("method", cls.method), section.get("baseline", cls.baseline),
                   tuple(section.get("quadrants", cls.quadrants)))


PRIMARY = Primary()


COMPARISON_SCHEMA = {"quadrant": pl.String, "method": pl.String, "baseline": pl.String, "family": pl.String,
                     "resample": pl.String, "replicates": pl.Int64, "same_sign_replicates": pl.Int64,
                     "n_pairs": pl.Int64,
                     "rmse_method": pl.Float64, "rmse_baseline": pl.Float64, "rmse_diff": pl.Float64,
                     "diff_lo": pl.Float64, "diff_hi": pl.Float64, "resamples": pl.Int64,
                     "share_method_better": pl.Float64, "ci_excludes_zero": pl.Boolean, "p_value": pl.Float64,
                     "p_holm": pl.Float64, "holm_rejects": pl.Boolean,
                     "diff_lo_simultaneous": pl.Float64, "diff_hi_simultaneous": pl.Float64,
                     "rmse_diff_offdiag": pl.Float64, "diff_offdiag_lo": pl.Float64, "diff_offdiag_hi": pl.Float64}


def comparison_order(comparisons: pl.DataFrame) -> list[tuple[str, str]]:
    """The (method, baseline) pairs of a comparisons table in reading order: the primary comparison, FOCUS_METHOD's
    others, then by METHODS (the comparisons figure and the end-of-run summary list them so)."""
    rank = {m: i for i, m in enumerate(METHODS)}
    primary = set(comparisons.filter(pl.col("family") == "primary").select("method", "baseline").iter_rows()) \
        if "family" in comparisons.columns else set()
    return sorted(set(comparisons.select("method", "baseline").iter_rows()),
                  key=lambda mb: (mb not in primary, mb[0] != FOCUS_METHOD, rank.get(mb[0], len(rank)),
                                  rank.get(mb[1], len(rank))))


def bootstrap_p_value(differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "no difference" from resampled differences (module docstring); nan when
    more than half are undefined."""
    differences = np.asarray(differences, float)
    finite = differences[np.isfinite(differences)]
    if finite.size == 0 or finite.size < differences.size / 2:
        return math.nan
    tail = min(int((finite >= 0).sum()), int((finite <= 0).sum()))
    return min(1.0, 2 * (tail + 1) / (finite.size + 1))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values: the i-th smallest of m becomes max over j <= i of min(1, (m - j + 1) p_j);
    nan stays nan and does not count towards m."""
    p = np.asarray(p_values, float)
    adjusted = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[index]))
        adjusted[index] = running
    return adjusted


def compared_pairs(methods: list[str], primary: Primary) -> list[tuple[str, str]]:
    """The (method, baseline) pairs a quadrant's comparisons table holds, of the `methods` it has: FOCUS_METHOD
    against every other, the methods' own comparisons (metasft.sources), and the primary comparison whatever it
    names."""
    pairs = [(FOCUS_METHOD, other) for other in methods if other != FOCUS_METHOD]
    pairs += [*OWN_COMPARISONS, (primary.method, primary.baseline)]
    return [p for p in dict.fromkeys(pairs) if p[0] in methods and p[1] in methods]


def comparison_rows(quadrant_name, compared: list[tuple[str, str]], points, resampled, n_pairs, confidence,
                    resample: str, offdiag: tuple[dict, dict] | None = None,
                    replicate_points: list[dict] | None = None) -> list[dict]:
    """One row per (method, baseline): the method's RMSE minus the baseline's, over the quadrant's shared resamples,
    and (`offdiag`: points and resamples without the diagonal pairs) the same without T = E. The family columns are
    filled in by `comparisons_frame`."""
    points_off, resampled_off = offdiag or (points, resampled)
    replicate_points = replicate_points or [points]
    rows = []
    for method, other in compared:
        diff = resampled[method]["rmse"] - resampled[other]["rmse"]
        low, high = percentile_interval(diff, confidence) if diff.size else (math.nan, math.nan)
        diff_off = resampled_off[method]["rmse"] - resampled_off[other]["rmse"]
        low_off, high_off = percentile_interval(diff_off, confidence) if diff_off.size else (math.nan, math.nan)
        rows.append({
            "quadrant": quadrant_name, "method": method, "baseline": other, "family": "exploratory",
            "resample": resample, "replicates": len(replicate_points),
            "same_sign_replicates": _same_sign(points[method]["rmse"] - points[other]["rmse"],
                                               [p[method]["rmse"] - p[other]["rmse"] for p in replicate_points]),
            "n_pairs": n_pairs,
            "rmse_method": points[method]["rmse"], "rmse_baseline": points[other]["rmse"],
            "rmse_diff": points[method]["rmse"] - points[other]["rmse"], "diff_lo": low, "diff_hi": high,
            "resamples": int(diff.size),
            "share_method_better": float(np.mean(diff < 0)) if diff.size else math.nan,
            "ci_excludes_zero": bool(low > 0 or high < 0) if not math.isnan(low) else False,
            "p_value": bootstrap_p_value(diff) if diff.size else math.nan,
            "p_holm": math.nan, "holm_rejects": False,
            "diff_lo_simultaneous": math.nan, "diff_hi_simultaneous": math.nan,
            "rmse_diff_offdiag": points_off[method]["rmse"] - points_off[other]["rmse"],
            "diff_offdiag_lo": low_off, "diff_offdiag_hi": high_off,
            "_differences": diff,
        })
    return rows


def _same_sign(difference: float, per_replicate: list[float]) -> int:
    """How many replicates' own differences have the sign of `difference` (a zero difference has none)."""
    if not math.isfinite(difference) or difference == 0:
        return 0
    return int(sum(math.isfinite(d) and d != 0 and (d > 0) == (difference > 0) for d in per_replicate))


def comparisons_frame(rows: list[dict], primary: Primary, confidence: float) -> pl.DataFrame:
    """The comparisons table from `comparison_rows`' rows: the primary family marked, adjusted and given its
    simultaneous intervals; primary rows first, in quadrant order."""
    family = [r for r in rows if r["method"] == primary.method and r["baseline"] == primary.baseline
              and r["quadrant"] in primary.quadrants]
    adjusted = holm([r["p_value"] for r in family])
    level = 1 - (1 - confidence) / max(len(family), 1)
    alpha = 1 - confidence
    for row, p_holm in zip(family, adjusted):
        row["family"], row["p_holm"] = "primary", float(p_holm)
        row["holm_rejects"] = bool(p_holm < alpha) if math.isfinite(p_holm) else False
        diff = row["_differences"]
        row["diff_lo_simultaneous"], row["diff_hi_simultaneous"] = (percentile_interval(diff, level) if diff.size
                                                                    else (math.nan, math.nan))
    ordered = family + [r for r in rows if r["family"] != "primary"]
    return pl.DataFrame([{k: v for k, v in r.items() if k != "_differences"} for r in ordered],
                        schema=COMPARISON_SCHEMA)
