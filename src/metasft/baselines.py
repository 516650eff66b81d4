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

from metasft.generate import derived_seed

PREDICTION_SCHEMA = {"method": pl.String, "permutation": pl.Int32, "train_domain": pl.String,
                     "eval_domain": pl.String, "y_hat": pl.Float64, "y_ref": pl.Float64}


def _pair_samples(golden_scores: pl.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    scored = golden_scores.filter(pl.col("score").is_not_null()).sort(
        "train_domain", "eval_domain", "question_index", "sample_index")
    samples = {}
    for (t, e), group in scored.group_by("train_domain", "eval_domain", maintain_order=True):
        samples[(t, e)] = group["score"].to_numpy()
    return samples


def _all_pairs(golden_scores: pl.DataFrame) -> list[tuple[str, str]]:
    return sorted(set(zip(golden_scores["train_domain"], golden_scores["eval_domain"])))


def split_half(golden_scores: pl.DataFrame, permutations: int, seed: int) -> pl.DataFrame:
    samples = _pair_samples(golden_scores)
    rows = []
    for r in range(permutations):
        rng = np.random.default_rng(derived_seed(seed, "GT", r))
        for pair in _all_pairs(golden_scores):
            values = samples.get(pair, np.empty(0))
            if len(values) < 2:  # cannot be split; reported as a dropped pair
                y_a = y_b = None
            else:
                shuffled = rng.permutation(values)
                half = len(values) // 2
                y_a, y_b = float(shuffled[:half].mean()), float(shuffled[half:].mean())
            rows.append({"method": "GT", "permutation": r, "train_domain": pair[0], "eval_domain": pair[1],
                         "y_hat": y_a, "y_ref": y_b})
    return pl.DataFrame(rows, schema=PREDICTION_SCHEMA)


def pooled_shuffle(golden_scores: pl.DataFrame, keep: str, permutations: int, seed: int) -> pl.DataFrame:
    """`keep="eval_domain"` gives GT-EvalOnly (E's marginal kept, T erased); `"train_domain"` GT-TrainOnly."""
    method = {"eval_domain": "GT-EvalOnly", "train_domain": "GT-TrainOnly"}[keep]
    samples = _pair_samples(golden_scores)
    pairs = _all_pairs(golden_scores)
    position = 1 if keep == "eval_domain" else 0
    groups: dict[str, list[tuple[str, str]]] = {}
    for pair in pairs:
        groups.setdefault(pair[position], []).append(pair)
    rows = []
    for r in range(permutations):
        rng = np.random.default_rng(derived_seed(seed, method, r))
        for key in sorted(groups):
            members = groups[key]
            sizes = [len(samples.get(p, ())) for p in members]
            pooled = rng.permutation(np.concatenate([samples.get(p, np.empty(0)) for p in members]))
            start = 0
            for pair, size in zip(members, sizes):
                dealt = pooled[start:start + size]
                start += size
                y_ref = samples.get(pair)
                rows.append({"method": method, "permutation": r, "train_domain": pair[0], "eval_domain": pair[1],
                             "y_hat": float(dealt.mean()) if size else None,
                             "y_ref": float(y_ref.mean()) if size else None})
    return pl.DataFrame(rows, schema=PREDICTION_SCHEMA)


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
