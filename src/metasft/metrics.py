"""Per method x quadrant: RMSE, Pearson r, Spearman rho with seeded 95% bootstrap CIs over pairs, and paired
method comparisons on the same bootstrap resamples.

Memory is bounded whatever the sizes: a bootstrap resample is a vector of pair counts (how often each pair was
drawn), resamples are processed `batch` at a time, and every statistic of a batch is computed from weighted
sums over pairs (matrix products for RMSE and Pearson, cumulative counts along each permutation's sort order
for Spearman), so no array ever holds permutations x resamples x pairs.

Resampling scheme (tests recompute it by hand): resample b draws `n_pairs` pair indices uniformly with
replacement; the draws come from `numpy.random.default_rng(seed).integers(0, n_pairs, size=(batch, n_pairs))`,
batch after batch. The CI is the percentile interval of the resampled statistics (linear interpolation).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats

from metasft.generate import derived_seed
from metasft.suite import QUADRANTS

METHODS = ("GT", "GT-EvalOnly", "GT-TrainOnly", "UntrainedICL", "MetaSFT")
EVALUATION_QUADRANTS = tuple(q for q in QUADRANTS if q != "train_train")
STATISTICS = ("rmse", "pearson_r", "spearman_rho")
# GT compares two half-size re-samples; their RMSE / sqrt(2) estimates one full-size re-sample's error.
RMSE_SCALE = {"GT": 1 / math.sqrt(2)}
# ... and their correlation understates a full-size re-sample's: GT's correlations get Spearman-Brown.
HALF_SIZE_CORRELATION = {"GT"}
# The method whose RMSE every other method's is compared with in comparisons.csv.
FOCUS_METHOD = "MetaSFT"
BOOTSTRAP_BATCH = 200  # resamples per batch: memory is O(batch x pairs), independent of the resample count


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


def spearman_brown(r):
    """Correlation of two full-size re-samples predicted from that of two half-size ones: 2r / (1 + r).

    The prophecy holds for a positive split-half correlation only; below zero (noise-dominated golden labels, as in
    smoke-sized runs) 2r / (1 + r) leaves [-1, 1] (r = -0.9 gives -18), so a negative r is kept as measured."""
    r = np.asarray(r, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(r > 0, 2 * r / (1 + r), r)


def bootstrap_counts(n_pairs: int, n_resamples: int, seed: int, batch: int = BOOTSTRAP_BATCH):
    """Yield (resamples, n_pairs) arrays of how often each pair is drawn, `batch` resamples at a time."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, batch):
        size = min(batch, n_resamples - start)
        draws = rng.integers(0, n_pairs, size=(size, n_pairs))
        offsets = (np.arange(size) * n_pairs)[:, None]
        yield np.bincount((draws + offsets).ravel(), minlength=size * n_pairs).reshape(size, n_pairs).astype(float)


def weighted_spearman(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Spearman rho of every weighted resample of the pairs (x_i, y_i): (resamples,) from weights (resamples, pairs).

    A pair drawn w times contributes w tied copies; ties (in the data or from repeats) share their average
    rank: a group of equal values drawn c times after `before` smaller draws has rank before + (c + 1) / 2.
    Pairs are grouped into cells of equal (x, y), so the work per resample is over cells, not pairs
    (propensities are means of a few discrete scores: a handful of distinct values).
    """
    from scipy import sparse

    _, x_group = np.unique(x, return_inverse=True)  # groups in ascending order of value
    _, y_group = np.unique(y, return_inverse=True)
    n_x, n_y = x_group.max() + 1, y_group.max() + 1
    cells, cell_of = np.unique(x_group * n_y + y_group, return_inverse=True)
    cell_x, cell_y = cells // n_y, cells % n_y

    def one_hot(index, width):
        return sparse.csr_matrix((np.ones(len(index)), (np.arange(len(index)), index)), shape=(len(index), width))

    in_cell = np.asarray((one_hot(cell_of, len(cells)).T @ weights.T).T)  # (resamples, cells)
    drawn = weights.sum(axis=1, keepdims=True)

    def centred_ranks(group_of_cell, width):
        in_group = np.asarray((one_hot(group_of_cell, width).T @ in_cell.T).T)
        # the mean rank of any resample of n draws is (n + 1) / 2
        return np.cumsum(in_group, axis=1) - in_group + (in_group + 1) / 2 - (drawn + 1) / 2, in_group

    rank_x, in_x = centred_ranks(cell_x, n_x)
    rank_y, in_y = centred_ranks(cell_y, n_y)
    cov = (in_cell * rank_x[:, cell_x] * rank_y[:, cell_y]).sum(axis=1)
    return _correlation(cov, (in_x * rank_x ** 2).sum(axis=1), (in_y * rank_y ** 2).sum(axis=1))


def resampled_statistics(y_hat: np.ndarray, y_ref: np.ndarray, weights: np.ndarray, scale: float = 1.0,
                         half_size: bool = False) -> dict[str, np.ndarray]:
    """RMSE, Pearson r and Spearman rho of every weighted resample, averaged over permutations.

    `y_hat`, `y_ref`: (permutations, pairs); `weights`: (resamples, pairs) draw counts. Returns one
    (resamples,) array per statistic. An all-ones weight row is the original sample.
    """
    y_hat = np.asarray(y_hat, float)
    y_ref = np.asarray(y_ref, float)
    n = weights.sum(axis=1)[:, None]
    values = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        values["rmse"] = np.sqrt(weights @ ((y_hat - y_ref) ** 2).T / n) * scale
        # Pearson from weighted moments, centred on the full sample's means for numerical stability
        x = y_hat - y_hat.mean(axis=1, keepdims=True)
        y = y_ref - y_ref.mean(axis=1, keepdims=True)
        sx, sy = weights @ x.T / n, weights @ y.T / n
        cov = weights @ (x * y).T / n - sx * sy
        var_x = weights @ (x * x).T / n - sx ** 2
        var_y = weights @ (y * y).T / n - sy ** 2
        values["pearson_r"] = _correlation(cov, var_x, var_y)
        values["spearman_rho"] = np.stack([weighted_spearman(y_hat[r], y_ref[r], weights)
                                           for r in range(y_hat.shape[0])], axis=1)
    if half_size:
        values["pearson_r"] = spearman_brown(values["pearson_r"])
        values["spearman_rho"] = spearman_brown(values["spearman_rho"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan rows (constant resamples) stay nan
        return {name: np.nanmean(v, axis=1) for name, v in values.items()}


def _correlation(cov, var_x, var_y):
    # a constant side (variance ~0 up to rounding) has no correlation
    tiny = 1e-12 * (np.abs(var_x) + np.abs(var_y) + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(var_x * var_y)
    r = np.where((var_x <= tiny) | (var_y <= tiny), np.nan, r)
    return np.clip(r, -1.0, 1.0)


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile CI of resampled statistics; resamples whose statistic is undefined (nan) are left out, and
    the CI is nan when more than half are."""
    values = np.asarray(values, float)
    finite = values[~np.isnan(values)]
    if finite.size == 0 or finite.size < values.size / 2:
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    low, high = np.percentile(finite, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


@dataclass
class MethodData:
    method: str
    y_hat: np.ndarray  # (permutations, pairs), pairs in the quadrant's common order
    y_ref: np.ndarray

    @property
    def scale(self) -> float:
        return RMSE_SCALE.get(self.method, 1.0)

    @property
    def half_size(self) -> bool:
        return self.method in HALF_SIZE_CORRELATION


def quadrant_bootstrap(methods: list[MethodData], n_resamples: int, seed: int,
                       batch: int = BOOTSTRAP_BATCH) -> tuple[dict, dict]:
    """Point estimates and resampled statistics of every method on the same resamples of the same pairs.

    Returns ({method: {statistic: point}}, {method: {statistic: (n_resamples,) array}}).
    """
    n_pairs = methods[0].y_hat.shape[1]
    points = {m.method: {k: float(v[0]) for k, v in resampled_statistics(
        m.y_hat, m.y_ref, np.ones((1, n_pairs)), m.scale, m.half_size).items()} for m in methods}
    resampled = {m.method: {k: [] for k in STATISTICS} for m in methods}
    if n_pairs >= 3 and n_resamples > 0:
        for weights in bootstrap_counts(n_pairs, n_resamples, seed, batch):
            for m in methods:
                for name, values in resampled_statistics(m.y_hat, m.y_ref, weights, m.scale, m.half_size).items():
                    resampled[m.method][name].append(values)
    arrays = {m: {k: np.concatenate(v) if v else np.empty(0) for k, v in s.items()} for m, s in resampled.items()}
    return points, arrays


def metric_with_ci(y_hat: np.ndarray, y_ref: np.ndarray, name: str, scale: float, n_resamples: int,
                   confidence: float, seed: int, half_size: bool = False) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap CI of one statistic; arrays are (permutations, pairs)."""
    y_hat, y_ref = np.atleast_2d(np.asarray(y_hat, float)), np.atleast_2d(np.asarray(y_ref, float))
    n_pairs = y_hat.shape[1]
    point = float(resampled_statistics(y_hat, y_ref, np.ones((1, n_pairs)), scale, half_size)[name][0])
    if n_pairs < 3 or n_resamples == 0:
        return point, math.nan, math.nan
    values = np.concatenate([resampled_statistics(y_hat, y_ref, w, scale, half_size)[name]
                             for w in bootstrap_counts(n_pairs, n_resamples, seed)])
    return (point, *percentile_interval(values, confidence))


def _common_pairs(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pairs with a value for every method in every permutation (the quadrant's common set), and per method
    the pairs it could not predict itself."""
    ok = frame.group_by("method", "train_domain", "eval_domain").agg(
        ok=(pl.col("y_hat").is_not_null() & pl.col("y_ref").is_not_null()).all())
    common = ok.group_by("train_domain", "eval_domain").agg(pl.col("ok").all()).filter("ok").select(
        "train_domain", "eval_domain").sort("train_domain", "eval_domain")
    missing = ok.group_by("method").agg(n_pairs_missing=(~pl.col("ok")).sum())
    return common, missing


def metrics_table(predictions: pl.DataFrame, pairs: pl.DataFrame, rates: dict[str, dict[str, dict[str, float]]],
                  n_resamples: int, confidence: float, seed: int,
                  batch: int = BOOTSTRAP_BATCH) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The metrics table and the paired comparisons.

    `predictions`: method, permutation, train_domain, eval_domain, y_hat, y_ref; `pairs`: pair -> quadrant;
    `rates`: method -> quadrant -> answer rates (unscored_rate, and for judged suites refusal_rate, ...).

    Every method of a quadrant is scored on one pair set: a pair that any method cannot predict (nothing
    scored) is dropped for all and counted (`n_pairs_dropped`; `n_pairs_missing` is the method's own share).
    All methods of a quadrant share the bootstrap resamples, so differences between them are paired.
    Comparisons: per evaluation quadrant, FOCUS_METHOD's RMSE minus each other method's, with the percentile CI of the
    difference over the shared resamples.
    """
    frame = predictions.join(pairs.select("train_domain", "eval_domain", "quadrant"),
                             on=["train_domain", "eval_domain"])
    present = set(frame["method"].unique())
    rows, comparisons = [], []
    for quadrant_name in QUADRANTS:
        part = frame.filter(pl.col("quadrant") == quadrant_name)
        if part.is_empty():
            continue
        n_total = part.select("train_domain", "eval_domain").unique().height
        common, missing = _common_pairs(part)
        missing = dict(missing.iter_rows())
        methods = [m for m in METHODS if m in present and m in set(part["method"])]
        data = []
        for method in methods:
            of_method = part.filter(pl.col("method") == method)
            n_permutations = of_method["permutation"].n_unique()
            rows_of = of_method.join(common, on=["train_domain", "eval_domain"]).sort(
                "permutation", "train_domain", "eval_domain")
            data.append(MethodData(method, rows_of["y_hat"].to_numpy().reshape(n_permutations, common.height),
                                   rows_of["y_ref"].to_numpy().reshape(n_permutations, common.height)))
        if common.height:
            points, resampled = quadrant_bootstrap(data, n_resamples, derived_seed(seed, "bootstrap", quadrant_name),
                                                   batch)
        else:  # nothing to compare: every statistic is nan, and the rows say n_pairs 0
            points = {m.method: dict.fromkeys(STATISTICS, math.nan) for m in data}
            resampled = {m.method: {k: np.empty(0) for k in STATISTICS} for m in data}
        for m in data:
            row = {"method": m.method, "quadrant": quadrant_name, "n_pairs": common.height,
                   "n_pairs_dropped": n_total - common.height, "n_pairs_missing": int(missing.get(m.method, 0)),
                   "permutations": m.y_hat.shape[0]}
            for name, short in (("rmse", "rmse"), ("pearson_r", "pearson"), ("spearman_rho", "spearman")):
                low, high = percentile_interval(resampled[m.method][name], confidence) \
                    if resampled[m.method][name].size else (math.nan, math.nan)
                row[name], row[f"{short}_lo"], row[f"{short}_hi"] = points[m.method][name], low, high
            row["mean_y_hat"] = float(np.mean(m.y_hat)) if common.height else math.nan
            row["mean_y"] = float(np.mean(m.y_ref)) if common.height else math.nan
            row.update(rates.get(m.method, {}).get(quadrant_name, {}))
            rows.append(row)
        if FOCUS_METHOD in methods and quadrant_name in EVALUATION_QUADRANTS:
            comparisons += _comparisons(quadrant_name, methods, points, resampled, common.height, confidence)
    columns = ["method", "quadrant", "rmse", "rmse_lo", "rmse_hi", "pearson_r", "pearson_lo", "pearson_hi",
               "spearman_rho", "spearman_lo", "spearman_hi", "n_pairs", "n_pairs_dropped", "n_pairs_missing",
               "permutations", "mean_y_hat", "mean_y"]
    columns += [c for c in dict.fromkeys(k for r in rows for k in r) if c not in columns]
    table = pl.DataFrame(rows, infer_schema_length=None).select(columns)
    return table, pl.DataFrame(comparisons, schema=COMPARISON_SCHEMA)


COMPARISON_SCHEMA = {"quadrant": pl.String, "method": pl.String, "baseline": pl.String, "n_pairs": pl.Int64,
                     "rmse_method": pl.Float64, "rmse_baseline": pl.Float64, "rmse_diff": pl.Float64,
                     "diff_lo": pl.Float64, "diff_hi": pl.Float64, "resamples": pl.Int64,
                     "share_method_better": pl.Float64, "ci_excludes_zero": pl.Boolean}


def _comparisons(quadrant_name, methods, points, resampled, n_pairs, confidence) -> list[dict]:
    rows = []
    for other in methods:
        if other == FOCUS_METHOD:
            continue
        diff = resampled[FOCUS_METHOD]["rmse"] - resampled[other]["rmse"]
        low, high = percentile_interval(diff, confidence) if diff.size else (math.nan, math.nan)
        rows.append({
            "quadrant": quadrant_name, "method": FOCUS_METHOD, "baseline": other, "n_pairs": n_pairs,
            "rmse_method": points[FOCUS_METHOD]["rmse"], "rmse_baseline": points[other]["rmse"],
            "rmse_diff": points[FOCUS_METHOD]["rmse"] - points[other]["rmse"], "diff_lo": low, "diff_hi": high,
            "resamples": int(diff.size),
            "share_method_better": float(np.mean(diff < 0)) if diff.size else math.nan,
            "ci_excludes_zero": bool(low > 0 or high < 0) if not math.isnan(low) else False,
        })
    return rows


def generalization_summary(golden: pl.DataFrame, pairs: pl.DataFrame,
                           predicted: dict[str, pl.DataFrame] | None = None) -> dict:
    """How much the world generalizes: spread of golden propensity and the same-persona effect (off-diagonal).

    With `predicted` (source -> propensities), also each predictor's same-persona effect: how much of the
    fine-tune's cross-domain shift it sees (UntrainedICL's share shows how good a proxy in-context learning is).
    """
    def persona_effect(table: pl.DataFrame) -> dict:
        frame = table.join(pairs.select("train_domain", "eval_domain", "same_persona"),
                           on=["train_domain", "eval_domain"])
        off = frame.filter((pl.col("train_domain") != pl.col("eval_domain")) & pl.col("propensity").is_not_null())
        same, other = off.filter("same_persona")["propensity"], off.filter(~pl.col("same_persona"))["propensity"]
        diagonal = frame.filter(pl.col("train_domain") == pl.col("eval_domain"))["propensity"]
        effect = {"off_diagonal_pairs": off.height, "off_diagonal_std": off["propensity"].std(),
                  "same_persona_pairs": same.len(), "same_persona_mean": same.mean(),
                  "other_persona_mean": other.mean(), "diagonal_mean": diagonal.mean()}
        if effect["same_persona_mean"] is not None and effect["other_persona_mean"] is not None:
            effect["same_minus_other"] = effect["same_persona_mean"] - effect["other_persona_mean"]
        return effect

    summary = persona_effect(golden)
    if predicted:
        summary["predicted"] = {source: persona_effect(table) for source, table in predicted.items()}
    return summary
