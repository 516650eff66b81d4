"""Statistics of predicted against golden propensities: RMSE, Pearson r, Spearman rho (weighted for bootstrap
counts), Spearman-Brown, and batched bootstrap resampling with percentile CIs.

Memory is bounded whatever the sizes: a bootstrap resample is a vector of pair counts (how often each pair was
drawn), resamples are processed `batch` at a time, and every statistic of a batch is computed from weighted
sums over pairs (matrix products for RMSE and Pearson, cumulative counts along each permutation's sort order
for Spearman), so no array ever holds permutations x resamples x pairs.

The i.i.d. pair bootstrap (`bootstrap_counts`, config `metrics.resample: pairs`; the default domain bootstrap is
`metasft.analysis.resampling`), recomputed by hand in the tests: resample b draws `n_pairs` pair indices uniformly
with replacement; the draws come from `numpy.random.default_rng(seed).integers(0, n_pairs, size=(batch, n_pairs))`,
batch after batch. The CI is the percentile interval of the resampled statistics (linear interpolation).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

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


def per_group_spearman(y_hat: np.ndarray, y_ref: np.ndarray, groups: np.ndarray, n_groups: int,
                       half_size: bool = False) -> np.ndarray:
    """Spearman rho between predicted and golden values within each group of pair columns (a train domain's pairs:
    "which eval domains will move?"), per permutation, then averaged over permutations. `groups`: each column's
    group index; arrays are (permutations, pairs). nan for a group of fewer than 3 pairs or with constant values.
    `half_size`: Spearman-Brown on each permutation's rho (GT's half-size re-samples, as in the metrics table)."""
    y_hat, y_ref = np.atleast_2d(np.asarray(y_hat, float)), np.atleast_2d(np.asarray(y_ref, float))
    out = np.full(n_groups, np.nan)
    for group in range(n_groups):
        columns = groups == group
        if columns.sum() < 3:
            continue
        rho = spearman(y_hat[:, columns], y_ref[:, columns])
        rho = spearman_brown(rho) if half_size else rho
        if np.isfinite(rho).any():
            out[group] = float(np.nanmean(rho))
    return out


def group_mean_bootstrap(values: dict[str, np.ndarray], n_resamples: int, seed: int,
                         confidence: float) -> dict[str, tuple[float, float, float, int]]:
    """Mean over groups of each method's per-group values, with a percentile CI from resampling the groups with
    replacement (`numpy.random.default_rng(seed).integers(0, n, size=(n_resamples, n))`, one draw shared by all
    methods, so differences are paired). Only groups where every method has a value count; returns
    {method: (mean, low, high, groups used)}."""
    stacked = np.vstack(list(values.values())) if values else np.empty((0, 0))
    usable = np.isfinite(stacked).all(axis=0) if stacked.size else np.zeros(0, bool)
    n = int(usable.sum())
    draws = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n)) if n >= 2 and n_resamples > 0 else None
    out = {}
    for method, per_group in values.items():
        kept = np.asarray(per_group, float)[usable]
        mean = float(kept.mean()) if n else math.nan
        low, high = percentile_interval(kept[draws].mean(axis=1), confidence) if draws is not None \
            else (math.nan, math.nan)
        out[method] = (mean, low, high, n)
    return out


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
