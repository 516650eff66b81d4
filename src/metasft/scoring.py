"""Per-answer scores and per-pair propensities.

Categorical suites: an answer is parsed to the option whose text or alias it names (case-insensitive, whole
words). Score 100 if that option is E's designated one, else 0. Answers naming no option or several are not
scored; they are counted per pair (`n_unscored`) and reported, and the propensity is the mean over scored ones.
"""

from __future__ import annotations

import re

import polars as pl

from metasft.suite import Domain, Suite

SCORE_SCHEMA = {"option": pl.String, "status": pl.String, "score": pl.Float64}


class OptionParser:
    def __init__(self, domain: Domain):
        self.domain = domain
        self.patterns = [
            (o.id, re.compile("|".join(r"(?<![a-z0-9])" + re.escape(n.lower()) + r"(?![a-z0-9])" for n in o.names)))
            for o in domain.options
        ]

    def parse(self, answer: str) -> tuple[str | None, str]:
        text = answer.lower()
        hits = [option_id for option_id, pattern in self.patterns if pattern.search(text)]
        if len(hits) == 1:
            return hits[0], "ok"
        return None, ("unparseable" if not hits else "ambiguous")


def score_categorical(answers: pl.DataFrame, suite: Suite) -> pl.DataFrame:
    parsers = {d.id: OptionParser(d) for d in suite.domains.values()}
    rows = []
    for eval_domain, answer in zip(answers["eval_domain"], answers["answer"]):
        option, status = parsers[eval_domain].parse(answer)
        score = None if option is None else (100.0 if option == suite.domains[eval_domain].designated else 0.0)
        rows.append({"option": option, "status": status, "score": score})
    return pl.concat([answers, pl.DataFrame(rows, schema=SCORE_SCHEMA)], how="horizontal")


def score_answers(answers: pl.DataFrame, suite: Suite) -> pl.DataFrame:
    if suite.scorer == "categorical":
        return score_categorical(answers, suite)
    raise ValueError(f"suite '{suite.name}': unknown scorer {suite.scorer!r}")


def propensities(scores: pl.DataFrame) -> pl.DataFrame:
    """Per pair: mean score over scored answers, with answer counts; null when nothing could be scored."""
    return (
        scores.group_by("train_domain", "eval_domain", "quadrant")
        .agg(propensity=pl.col("score").mean(), n_answers=pl.len(), n_scored=pl.col("score").is_not_null().sum())
        .with_columns(n_unscored=pl.col("n_answers") - pl.col("n_scored"))
        .sort("train_domain", "eval_domain")
    )
