"""Reference predictors built from the golden samples themselves (DESIGN.md, "Methods compared").

Each returns a long table `method, permutation, train_domain, eval_domain, y_hat, y_ref` over R seeded
permutations; metrics are computed per permutation and averaged.

* GT: each pair's samples are split into random halves A and B; y_hat = mean(A), y_ref = mean(B). The metric
  code divides GT's RMSE by sqrt(2) to estimate the error of an independent full-size re-sample.
* GT-EvalOnly / GT-TrainOnly: the samples of all pairs sharing E (or T) are pooled, shuffled and dealt back
  in their original sizes; y_hat = mean of the dealt samples, y_ref = the pair's golden propensity.
"""

from __future__ import annotations

import numpy as np
import polars as pl

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
        scored = golden_scores.filter(pl.col("score").is_not_null()).join(
            keys.with_row_index("pair"), on=["train_domain", "eval_domain"]).sort(
            "pair", "question_index", "sample_index")
        self.pair = scored["pair"].to_numpy().astype(np.int64)
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
    """GT: each pair's samples in a random order; the first floor(n/2) are half A, the rest half B."""
    data = PairSamples(golden_scores)
    half = data.sizes // 2
    start = np.r_[0, np.cumsum(data.sizes)[:-1]]
    y_a = np.full((permutations, data.n_pairs), np.nan)
    y_b = np.full((permutations, data.n_pairs), np.nan)
    splittable = data.sizes >= 2  # a pair of one sample cannot be split; reported as a dropped pair
    for r in range(permutations):
        rng = np.random.default_rng(derived_seed(seed, "GT", r))
        order = np.lexsort((rng.random(data.values.size), data.pair))  # shuffled within each pair
        in_a = (np.arange(data.values.size) - start[data.pair]) < half[data.pair]
        shuffled = data.values[order]
        sum_a = np.bincount(data.pair[in_a], shuffled[in_a], data.n_pairs)
        sum_b = np.bincount(data.pair[~in_a], shuffled[~in_a], data.n_pairs)
        with np.errstate(invalid="ignore", divide="ignore"):
            y_a[r] = np.where(splittable, sum_a / half, np.nan)
            y_b[r] = np.where(splittable, sum_b / (data.sizes - half), np.nan)
    return data.frame("GT", y_a, y_b)


def pooled_shuffle(golden_scores: pl.DataFrame, keep: str, permutations: int, seed: int) -> pl.DataFrame:
    """`keep="eval_domain"` gives GT-EvalOnly (E's marginal kept, T erased); `"train_domain"` GT-TrainOnly.

    The samples of all pairs sharing the kept domain are pooled, shuffled and dealt back to those pairs in
    their original sizes: y_hat is the mean of the dealt samples, y_ref the pair's golden propensity.
    """
    method = {"eval_domain": "GT-EvalOnly", "train_domain": "GT-TrainOnly"}[keep]
    data = PairSamples(golden_scores)
    group = np.unique(data.eval if keep == "eval_domain" else data.train, return_inverse=True)[1]
    # slots: the samples laid out by (kept domain, pair, sample); shuffling within a kept domain deals them out
    slots = np.lexsort((np.arange(data.values.size), group[data.pair]))
    slot_pair, slot_group = data.pair[slots], group[data.pair[slots]]
    y_hat = np.full((permutations, data.n_pairs), np.nan)
    for r in range(permutations):
        rng = np.random.default_rng(derived_seed(seed, method, r))
        dealt = data.values[slots][np.lexsort((rng.random(slots.size), slot_group))]
        with np.errstate(invalid="ignore", divide="ignore"):
            y_hat[r] = np.bincount(slot_pair, dealt, data.n_pairs) / data.sizes
    return data.frame(method, y_hat, np.broadcast_to(data.means, y_hat.shape))


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
