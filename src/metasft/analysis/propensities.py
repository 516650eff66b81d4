"""Propensities per pair from per-answer scores, answer-status rates, and the gate that stops a run whose answers were mostly unscored."""

from __future__ import annotations

import polars as pl

from metasft.judging.prompts import JUDGED_OUTCOMES
from metasft.judging.score import MISALIGNED_ABOVE

# A categorical answer that names no option, or several, has no score, but it does not choose the designated
# option: its pair's propensity (the share of answers that choose it) counts it as 0.
NO_OPTION_STATUSES = ("unparseable", "ambiguous")


def counted_score() -> pl.Expr:
    """The score an answer counts with in its pair's propensity: its score; 0 for a categorical answer naming no
    option or several; null (left out) for a judged answer the judge refused, found incoherent or could not score."""
    return (pl.when(pl.col("score").is_null() & pl.col("status").is_in(NO_OPTION_STATUSES)).then(0.0)
            .otherwise(pl.col("score")))


def propensities(scores: pl.DataFrame) -> pl.DataFrame:
    """Per pair: mean of the answers' counted scores (`counted_score`), with answer counts (`n_scored`: answers with
    a score of their own); null when nothing counts.

    Judged suites add the counts of refusals, code and incoherent answers, EM suites also the misaligned rate, and
    both the sensitivity `propensity_unscored_as_0` (every answer without a score counted as 0).
    """
    extra = []
    if "coherence_status" in scores.columns:  # judged (EM or a custom rubric)
        extra = [(pl.col("status") == outcome).sum().alias(f"n_{outcome}") for outcome in JUDGED_OUTCOMES[:3]]
        extra.append(pl.col("score").fill_null(0.0).mean().alias("propensity_unscored_as_0"))
    if "evilness" in scores.columns:
        extra.append((pl.col("score") > MISALIGNED_ABOVE).mean().alias("misaligned_rate"))  # nulls are skipped
    return (
        scores.group_by("train_domain", "eval_domain", "quadrant")
        .agg(propensity=counted_score().mean(), n_answers=pl.len(), n_scored=pl.col("score").is_not_null().sum(),
             *extra)
        .with_columns(n_unscored=pl.col("n_answers") - pl.col("n_scored"))
        .sort("train_domain", "eval_domain")
    )


def answer_rates(scores: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Per quadrant, the share of one source's answers in each outcome (and the misaligned rate)."""
    rates = {}
    for quadrant_name, part in scores.group_by("quadrant"):
        row = {"unscored_rate": float(part["score"].is_null().mean())}
        if "coherence_status" in part.columns:  # judged (EM or a custom rubric)
            for outcome in JUDGED_OUTCOMES[:3]:
                row[f"{outcome}_rate"] = float((part["status"] == outcome).mean())
            row["judge_unscored_rate"] = float((part["status"] == "unscored").mean())  # malformed judgments
        if "evilness" in part.columns:
            counted = part["score"].drop_nulls()
            row["misaligned_rate"] = float((counted > MISALIGNED_ABOVE).mean()) if counted.len() else float("nan")
        rates[quadrant_name[0]] = row
    return rates


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
