"""Bootstrap resamples of a quadrant's pairs, by domain (the default) or by pair, as weight rows over the pairs.

The design is crossed: every pair (T, E) shares its T with its row and its E with its column, so pairs are not
independent and resampling them i.i.d. understates the spread of any statistic over pairs. The domain bootstrap
resamples the independent units instead:

- `train_eval`, `eval_train` (T and E from different halves): the "pigeonhole" two-way bootstrap (Owen 2007).
  Draw the quadrant's T domains with replacement and, independently, its E domains; a pair's weight is
  count(T) x count(E).
- `train_train`, `eval_eval` (T and E from the same half): one draw of the half's domains indexes both sides, so a
  domain drawn twice weighs twice as T and twice as E; an off-diagonal pair's weight is count(T) x count(E) of that
  one draw. Two different copies of one domain stand for two different domains, a pair with no data of its own,
  so they make no pair; counting them as the diagonal (count(T)^2) would double the diagonal's expected share of the
  resample (from 1/n to about 2/n) and pull every statistic toward the diagonal pairs' (on a world whose diagonal
  errors are 12 times the others', the whole 95% interval of the RMSE lay above the estimate). A diagonal pair (each
  copy of a domain with itself) weighs count(T) x (n - 1) / n for n domains: the off-diagonal weight of a resample is
  (n - 1)^2 in expectation, so the diagonal's expected share stays its share of the sample, 1/n.

Scheme (tests recompute it by hand): a batch of `size` resamples draws `rng.integers(0, n, size=(size, n))` for the
T side (n = number of T domains, sorted by name; for the same-half quadrants n is the number of domains on either
side, sorted by name, and this one draw is also the E side), then, for the cross quadrants only, the same for the E
side, from one `numpy.random.default_rng(seed)` stream, batch after batch. `unit="pairs"` is the earlier
i.i.d. pair bootstrap (`metasft.analysis.statistics.bootstrap_counts`), kept for comparison.

Weights are (resamples, pairs) arrays processed `batch` rows at a time, so memory is O(batch x pairs).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from metasft.analysis.statistics import BOOTSTRAP_BATCH, bootstrap_counts

RESAMPLE_UNITS = ("domains", "pairs")
UNIT_WORD = {"domains": "domain", "pairs": "pair"}  # as tables and figures say it: "domain-level bootstrap"
SAME_HALF_QUADRANTS = ("train_train", "eval_eval")


@dataclass(frozen=True)
class PairDesign:
    """Which domains a quadrant's pairs come from: per pair the index of its T in `train_names` and of its E in
    `eval_names`. `same_set`: T and E index one list of domains (the same-half quadrants)."""
    train_index: np.ndarray
    eval_index: np.ndarray
    train_names: tuple[str, ...]
    eval_names: tuple[str, ...]
    same_set: bool

    @classmethod
    def of(cls, train_domains, eval_domains, same_set: bool) -> "PairDesign":
        train_domains, eval_domains = np.asarray(train_domains, dtype=object), np.asarray(eval_domains, dtype=object)
        if same_set:
            train_names = eval_names = tuple(sorted(set(train_domains) | set(eval_domains)))
        else:
            train_names, eval_names = tuple(sorted(set(train_domains))), tuple(sorted(set(eval_domains)))
        train_position = {name: i for i, name in enumerate(train_names)}
        eval_position = {name: i for i, name in enumerate(eval_names)}
        return cls(np.array([train_position[t] for t in train_domains], dtype=np.int64),
                   np.array([eval_position[e] for e in eval_domains], dtype=np.int64),
                   train_names, eval_names, same_set)

    @classmethod
    def of_quadrant(cls, quadrant: str, train_domains, eval_domains) -> "PairDesign":
        return cls.of(train_domains, eval_domains, quadrant in SAME_HALF_QUADRANTS)

    @property
    def n_pairs(self) -> int:
        return len(self.train_index)


def _counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    draws = rng.integers(0, n, size=(size, n))
    offsets = (np.arange(size) * n)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=size * n).reshape(size, n).astype(float)


def domain_counts(design: PairDesign, n_resamples: int, seed: int,
                  batch: int = BOOTSTRAP_BATCH) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (train counts (size, n_train), eval counts (size, n_eval)) of each batch of domain resamples; for the
    same-half quadrants both are the one draw."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, batch):
        size = min(batch, n_resamples - start)
        train = _counts(rng, len(design.train_names), size)
        yield train, train if design.same_set else _counts(rng, len(design.eval_names), size)


def diagonal_share(design: PairDesign) -> float:
    """A diagonal pair's weight per drawn copy of its domain in a same-half resample, (n - 1) / n (module
    docstring); 1 for a single domain."""
    n = len(design.train_names)
    return (n - 1) / n if n > 1 else 1.0


def resample_weights(design: PairDesign, unit: str, n_resamples: int, seed: int,
                     batch: int = BOOTSTRAP_BATCH) -> Iterator[np.ndarray]:
    """Yield (size, pairs) weight rows, `batch` resamples at a time, by `unit` ("domains" or "pairs")."""
    if unit == "pairs":
        yield from bootstrap_counts(design.n_pairs, n_resamples, seed, batch)
    elif unit == "domains":
        diagonal = np.flatnonzero(design.train_index == design.eval_index) if design.same_set else []
        for train, evals in domain_counts(design, n_resamples, seed, batch):
            weights = train[:, design.train_index] * evals[:, design.eval_index]
            if len(diagonal):
                weights[:, diagonal] = train[:, design.train_index[diagonal]] * diagonal_share(design)
            yield weights
    else:
        raise ValueError(f"metrics.resample must be one of {RESAMPLE_UNITS}, not {unit!r}")


def resampled_means(values: np.ndarray, design: PairDesign, unit: str, n_resamples: int, seed: int,
                    batch: int = BOOTSTRAP_BATCH) -> np.ndarray:
    """Weighted means of per-pair `values` (methods, pairs) over the same resamples: (methods, resamples)."""
    values = np.atleast_2d(np.asarray(values, float))
    out = []
    for weights in resample_weights(design, unit, n_resamples, seed, batch):
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((values @ weights.T) / weights.sum(axis=1))
    return np.concatenate(out, axis=1) if out else np.empty((values.shape[0], 0))


def per_train_spearman_bootstrap(values: dict[str, tuple[np.ndarray, np.ndarray, bool]], design: PairDesign,
                                 usable: np.ndarray, n_resamples: int, seed: int) -> dict[str, np.ndarray]:
    """Resampled means over train domains of each train domain's Spearman rho across its eval domains, by domain.

    `values`: method -> (y_hat, y_ref (permutations, pairs), half_size); `usable`: the train domains (by index in
    `design.train_names`) every method has a rho for on the full sample. One resample draws T and E domains as in
    `resample_weights` (all `n_resamples` in one batch): each usable T's rho is the Spearman of its pairs weighted by
    count(E) (an E drawn twice counts as two tied copies), averaged over permutations (Spearman-Brown first where
    `half_size`), and the mean over T weighs each T by count(T). A T whose resampled rho is undefined for some
    method (its drawn E values constant) is left out of that resample for every method, so methods stay paired.
    Returns method -> (n_resamples,) array (nan where no T is left)."""
    from metasft.analysis.statistics import spearman_brown, weighted_spearman

    train_counts, eval_counts = next(domain_counts(design, n_resamples, seed, batch=max(n_resamples, 1)))
    groups = np.flatnonzero(usable)
    rho = {}
    for method, (y_hat, y_ref, half_size) in values.items():
        per_group = np.full((n_resamples, len(groups)), np.nan)
        for g, group in enumerate(groups):
            columns = np.flatnonzero(design.train_index == group)
            weights = eval_counts[:, design.eval_index[columns]]
            if design.same_set:  # a copy of T meets only itself on the diagonal (as in `resample_weights`)
                on_diagonal = design.eval_index[columns] == group
                weights[:, on_diagonal] = (eval_counts[:, [group]] > 0) * diagonal_share(design)
            per_permutation = np.stack([weighted_spearman(y_hat[p, columns], y_ref[p, columns], weights)
                                        for p in range(y_hat.shape[0])])
            if half_size:
                per_permutation = spearman_brown(per_permutation)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                per_group[:, g] = np.nanmean(per_permutation, axis=0)
        rho[method] = per_group
    defined = np.all([np.isfinite(r) for r in rho.values()], axis=0) if rho else np.zeros((n_resamples, 0), bool)
    weights = train_counts[:, groups] * defined
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for method, per_group in rho.items():
            out[method] = (np.where(defined, per_group, 0.0) * weights).sum(axis=1) / weights.sum(axis=1)
    return out
