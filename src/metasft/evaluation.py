"""The `metrics` stage: propensities of every source, every method's predictions, and the metrics table."""

from __future__ import annotations

import logging

import polars as pl

from metasft.baselines import model_predictions
from metasft.io import read_parquet, read_parquets, write_csv, write_json, write_parquet
from metasft.metrics import generalization_summary, metrics_table
from metasft.scoring import answer_rates, propensities
from metasft.snapshot import pair_table, read_snapshot

log = logging.getLogger(__name__)


def evaluate(suite_path, baselines_path, score_paths: dict[str, list[str]], n_resamples: int, confidence: float,
             seed: int, outputs) -> pl.DataFrame:
    suite, split = read_snapshot(suite_path)
    pairs = pair_table(suite, split)
    scores = {source: read_parquets(paths) for source, paths in score_paths.items()}
    by_source = {source: propensities(table) for source, table in scores.items()}
    golden = by_source["golden"]
    predictions = pl.concat([
        read_parquet(baselines_path),
        *(model_predictions(method, by_source[method], golden) for method in ("UntrainedICL", "MetaSFT")),
    ])
    rates = {source: answer_rates(table) for source, table in scores.items()}
    # The GT-* baselines are built from golden samples, so they report the golden answers' rates.
    rates.update({m: rates["golden"] for m in ("GT", "GT-EvalOnly", "GT-TrainOnly")})
    table, comparisons = metrics_table(predictions, pairs, rates, n_resamples, confidence, seed)

    long_propensities = pl.concat([p.with_columns(source=pl.lit(s)) for s, p in by_source.items()]).join(
        pairs.select("train_domain", "eval_domain", "same_persona"), on=["train_domain", "eval_domain"])
    write_parquet(long_propensities, outputs.propensities)
    write_parquet(predictions.join(pairs, on=["train_domain", "eval_domain"]), outputs.predictions)
    summary = generalization_summary(golden, pairs, {m: by_source[m] for m in ("UntrainedICL", "MetaSFT")})
    write_json(summary, outputs.generalization)
    write_csv(comparisons, outputs.comparisons)
    write_csv(table, outputs.metrics)
    log.info("generalization: %s", summary)
    return table
