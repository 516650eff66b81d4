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


class UnscoredError(ValueError):
    """Too many of a method's answers could not be scored for its metrics to mean anything."""


def check_unscored(scores: dict[str, pl.DataFrame], max_rate: float, n_examples: int = 3, width: int = 80,
                   max_listed: int = 3) -> None:
    """Fail when a source's share of unscored answers (null score) in a quadrant exceeds `max_rate`.

    Without this gate a run whose answers name no option ends green with every metric NaN. The message names
    the source, quadrant, rate, threshold, the config key, and a few of the unscored answers (truncated).
    """
    problems = []  # (rate, text)
    for source, table in scores.items():
        for (quadrant_name,), part in table.sort("quadrant").group_by("quadrant", maintain_order=True):
            unscored = part.filter(pl.col("score").is_null())
            rate = unscored.height / part.height if part.height else 0.0
            if rate <= max_rate:
                continue
            examples = [a if len(a) <= width else a[:width - 3] + "..."
                        for a in unscored["answer"].head(n_examples).to_list()]
            statuses = ""
            if "status" in unscored.columns:
                counts = unscored["status"].fill_null("none").value_counts(sort=True).iter_rows()
                statuses = ", ".join(f"{status} {n}" for status, n in counts) + "; "
            problems.append((rate, f"{source} in {quadrant_name}: {rate:.1%} of {part.height} answers unscored "
                                   f"({statuses}e.g. {'; '.join(repr(e) for e in examples)})"))
    if problems:
        problems.sort(key=lambda p: -p[0])  # the worst first; the rest only counted, so the message stays short
        shown = " | ".join(text for _, text in problems[:max_listed])
        more = f" | and {len(problems) - max_listed} more method x quadrant cells" if len(problems) > max_listed else ""
        raise UnscoredError(
            f"unscored answers above metrics.max_unscored_rate = {max_rate:g}: " + shown + more
            + ". Answers that name no option (or several), or that a judge refused, found incoherent or could not "
            "score, carry no score: train the base model longer, check the suite's options and aliases, or "
            "raise config metrics.max_unscored_rate (1 turns the check off).")


def evaluate(suite_path, baselines_path, score_paths: dict[str, list[str]], n_resamples: int, confidence: float,
             seed: int, outputs, max_unscored_rate: float = 1.0) -> pl.DataFrame:
    suite, split = read_snapshot(suite_path)
    pairs = pair_table(suite, split)
    scores = {source: read_parquets(paths) for source, paths in score_paths.items()}
    check_unscored(scores, max_unscored_rate)  # before any output is written
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
