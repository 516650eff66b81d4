"""Reference predictors built from the golden samples themselves (DESIGN.md, "Methods compared").

Each returns a long table `method, permutation, train_domain, eval_domain, y_hat, y_ref` over R seeded
permutations; metrics are computed per permutation and averaged.

* GT: each pair's samples are split into random halves A and B *within each question* (a question's samples are
  shuffled and halved; an odd one out goes to A or B alternately, starting from a random side per pair), so both
  halves ask the same questions and GT's noise is sampling noise alone, as for the other methods; y_hat = mean(A),
  y_ref = mean(B). The metric code divides GT's RMSE by sqrt(2) to estimate the error of an independent full-size
  re-sample.
* GT-EvalOnly / GT-TrainOnly: the samples of all *other* pairs sharing E (or T) are pooled, shuffled, and the pair
  is dealt as many as it has; y_hat = mean of the dealt samples, y_ref = the pair's golden propensity. Leaving the
  pair's own samples out keeps y_hat independent of y_ref (with them, about 1/N of the dealt samples are the pair's
  own). A kept domain with a single pair has no other samples: y_hat is null and the pair is dropped.

Samples count as in the propensities (`metasft.analysis.propensities.counted_score`).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from metasft.analysis.propensities import counted_score
from metasft.pipeline.io import read_parquets, write_parquet
from metasft.pipeline.seeds import derived_seed

PREDICTION_SCHEMA = {"method": pl.String, "permutation": pl.Int32, "train_domain": pl.String,
                     "eval_domain": pl.String, "y_hat": pl.Float64, "y_ref": pl.Float64}


class PairSamples:
    """Every pair's scored golden samples in one flat array, pairs in sorted (T, E) order (vectorised baselines:
    100 permutations of 10,000 pairs are arrays, not millions of Python rows)."""

    def __init__(self, golden_scores: pl.DataFrame):
        keys = golden_scores.select("train_domain", "eval_domain").unique().sort("train_domain", "eval_domain")
        self.train = keys["train_domain"].to_numpy()
        self.eval = keys["eval_domain"].to_numpy()
        scored = golden_scores.with_columns(score=counted_score()).filter(pl.col("score").is_not_null()).join(
            keys.with_row_index("pair"), on=["train_domain", "eval_domain"]).sort(
            "pair", "question_index", "sample_index")
        self.pair = scored["pair"].to_numpy().astype(np.int64)
        self.question = scored["question_index"].to_numpy().astype(np.int64)
        self.values = scored["score"].to_numpy().astype(float)
        self.n_pairs = keys.height
        self.sizes = np.bincount(self.pair, minlength=self.n_pairs)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.means = np.bincount(self.pair, self.values, self.n_pairs) / self.sizes

    def frame(self, method: str, y_hat: np.ndarray, y_ref: np.ndarray) -> pl.DataFrame:
        """Rows for (permutations, pairs) arrays; nan (nothing to compare) becomes null."""
        permutations = y_hat.shape[0]
        return pl.DataFrame({
            "method": [method] * (permutations * self.n_pairs),
            "permutation": np.repeat(np.arange(permutations, dtype=np.int32), self.n_pairs),
            "train_domain": np.tile(self.train, permutations), "eval_domain": np.tile(self.eval, permutations),
            "y_hat": y_hat.ravel(), "y_ref": y_ref.ravel(),
        }, schema=PREDICTION_SCHEMA).with_columns(pl.col("y_hat", "y_ref").fill_nan(None))


def split_half(golden_scores: pl.DataFrame, permutations: int, seed: int) -> pl.DataFrame:
    """GT: each pair's samples halved within each question (module docstring); a pair whose samples cannot fill
    both halves (a single sample) is null, reported as a dropped pair."""
    data = PairSamples(golden_scores)
    # cells: one (pair, question) each, in the samples' sorted order
    new_cell = np.r_[True, (data.pair[1:] != data.pair[:-1]) | (data.question[1:] != data.question[:-1])]
    cell = np.cumsum(new_cell) - 1
    cell_size = np.bincount(cell)
    cell_start = np.flatnonzero(new_cell)
    cell_pair = data.pair[cell_start]
    odd = cell_size % 2 == 1
    # the k-th odd cell of a pair sends its extra sample to A when k + the pair's random start is even
    odd_rank = _running_count(odd, cell_pair) - 1
    y_a = np.full((permutations, data.n_pairs), np.nan)
    y_b = np.full((permutations, data.n_pairs), np.nan)
    for r in range(permutations):
        rng = np.random.default_rng(derived_seed(seed, "GT", r))
        order = np.lexsort((rng.random(data.values.size), cell))  # shuffled within each (pair, question)
        start_side = rng.integers(0, 2, data.n_pairs)
        extra_to_a = odd & ((odd_rank + start_side[cell_pair]) % 2 == 0)
        in_a = (np.arange(data.values.size) - cell_start[cell]) < (cell_size // 2 + extra_to_a)[cell]
        shuffled = data.values[order]
        n_a = np.bincount(data.pair[in_a], minlength=data.n_pairs)
        n_b = np.bincount(data.pair[~in_a], minlength=data.n_pairs)
        with np.errstate(invalid="ignore", divide="ignore"):
            y_a[r] = np.where((n_a > 0) & (n_b > 0),
                              np.bincount(data.pair[in_a], shuffled[in_a], data.n_pairs) / n_a, np.nan)
            y_b[r] = np.where((n_a > 0) & (n_b > 0),
                              np.bincount(data.pair[~in_a], shuffled[~in_a], data.n_pairs) / n_b, np.nan)
    return data.frame("GT", y_a, y_b)


def pooled_shuffle(golden_scores: pl.DataFrame, keep: str, permutations: int, seed: int) -> pl.DataFrame:
    """`keep="eval_domain"` gives GT-EvalOnly (E's marginal kept, T erased); `"train_domain"` GT-TrainOnly.

    Per permutation, the samples of each kept domain are put in a random order; a pair is dealt the first n of
    them that are not its own (n: its own sample count; fewer where the others hold fewer). y_hat is the mean of
    the dealt samples, y_ref the pair's golden propensity.
    """
    method = {"eval_domain": "GT-EvalOnly", "train_domain": "GT-TrainOnly"}[keep]
    data = PairSamples(golden_scores)
    group = np.unique(data.eval if keep == "eval_domain" else data.train, return_inverse=True)[1]
    sample_group = group[data.pair]
    group_size = np.bincount(sample_group, minlength=group.max() + 1 if group.size else 0)
    group_start = np.r_[0, np.cumsum(group_size)[:-1]]
    # a pair needs at most 2n places of its group's order to find n samples that are not its own
    wanted = np.minimum(2 * data.sizes, group_size[group])
    slot_pair = np.repeat(np.arange(data.n_pairs), wanted)
    slot_place = np.arange(slot_pair.size) - np.repeat(np.r_[0, np.cumsum(wanted)[:-1]], wanted)
    y_hat = np.full((permutations, data.n_pairs), np.nan)
    for r in range(permutations):
        rng = np.random.default_rng(derived_seed(seed, method, r))
        order = np.lexsort((rng.random(data.values.size), sample_group))  # each kept domain's samples, shuffled
        drawn = order[group_start[group[slot_pair]] + slot_place]
        other = data.pair[drawn] != slot_pair
        taken = other & (_running_count(other, slot_pair) <= data.sizes[slot_pair])
        with np.errstate(invalid="ignore", divide="ignore"):
            y_hat[r] = (np.bincount(slot_pair[taken], data.values[drawn[taken]], data.n_pairs)
                        / np.bincount(slot_pair[taken], minlength=data.n_pairs))
    return data.frame(method, y_hat, np.broadcast_to(data.means, y_hat.shape))


def _running_count(flags: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """How many of flags[:i + 1] are set within i's segment (segments are contiguous runs of equal `segment`)."""
    total = np.cumsum(flags)
    starts = np.r_[True, segment[1:] != segment[:-1]]
    before = (total - flags)[starts]
    return total - np.repeat(before, np.diff(np.r_[np.flatnonzero(starts), flags.size]))


def model_predictions(method: str, predicted: pl.DataFrame, golden: pl.DataFrame) -> pl.DataFrame:
    """UntrainedICL / MetaSFT: y_hat = the method's propensity, y_ref = the golden propensity (one permutation)."""
    joined = golden.select("train_domain", "eval_domain", pl.col("propensity").alias("y_ref")).join(
        predicted.select("train_domain", "eval_domain", pl.col("propensity").alias("y_hat")),
        on=["train_domain", "eval_domain"], how="left")
    return joined.select(pl.lit(method).alias("method"), pl.lit(0, pl.Int32).alias("permutation"),
                         "train_domain", "eval_domain", "y_hat", "y_ref").cast(PREDICTION_SCHEMA)


def all_baselines(golden_scores: pl.DataFrame, permutations: int, seed: int) -> pl.DataFrame:
    return pl.concat([
        split_half(golden_scores, permutations, seed),
        pooled_shuffle(golden_scores, "eval_domain", permutations, seed),
        pooled_shuffle(golden_scores, "train_domain", permutations, seed),
    ])


def baselines(golden_score_paths: list[str], output, *, permutations: int, seed: int) -> pl.DataFrame:
    """Stage `baselines`: GT, GT-EvalOnly and GT-TrainOnly predictions from the golden scores."""
    table = all_baselines(read_parquets(golden_score_paths), permutations, seed)
    write_parquet(table, output)
    return table
