"""Inverse prediction: which training data did this? Ranking candidate train domains by how well they explain M_T's
answers, and the table of top-1, top-5 and mean reciprocal rank per method and quadrant.

For a pair (T, E), the observed answers are M_T's golden answers to E's questions with `sample_index <
answers_per_question` (samples are i.i.d., so the first ones are a fair draw). Every candidate T' of T's half of the
split (meta-train domains for the train_* quadrants, meta-eval domains for eval_*) gets a score:

- a forward method (UntrainedICL, MetaSFT, the NL methods): the summed log-probability its model gives the observed
  answers after the prompt it would predict (T', E) with (T''s ICL examples or description, then E's question);
  computed by rule `inverse_likelihoods` (`metasft.methods.inverse`);
- `GoldenPropensity` (the ceiling of what the scalar target tells): the log-likelihood of the observed answers'
  scores under y(T', E) estimated from the pair's *other* golden samples (sample_index >= answers_per_question, so
  the true T is not scored on its own answers): sum over answers of s log p + (1 - s) log(1 - p), s = score / 100,
  p = (sum of s + 1/2) / (n + 1); answers count as in the propensities (`propensities.counted_score`: a categorical
  answer naming no option is s = 0, a judged answer without a score is left out).

MetaSFT's (and MetaSFT-NL's) train_train row is in-sample: its meta-model was trained on those pairs' golden answers,
so inverse.csv flags it (`in_sample`).

The true T's rank counts candidates scored higher; ties are broken at random in expectation (the rank is uniform
over the tied block), so a method that scores every candidate alike sits exactly at chance: top-k = k / C and
MRR = H(C) / C for C candidates.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from metasft.analysis.propensities import counted_score
from metasft.analysis.resampling import PairDesign, resampled_means
from metasft.analysis.statistics import percentile_interval
from metasft.methods.inverse import LIKELIHOOD_SCHEMA
from metasft.pipeline.seeds import derived_seed
from metasft.sources import BY_NAME, MODEL_METHODS, TRAIN_DOMAIN
from metasft.suites.domains import QUADRANTS

GOLDEN_PROPENSITY = "GoldenPropensity"
# Reading order of inverse.csv and its figure: the forward methods, then the ceiling.
INVERSE_METHODS = (*MODEL_METHODS, GOLDEN_PROPENSITY)
TOP_K = (1, 5)
# Methods whose model (a meta-model) was trained on the train_train pairs' golden answers: their train_train row is
# in-sample.
IN_SAMPLE = {m for m in MODEL_METHODS if BY_NAME[m].adapter not in (None, TRAIN_DOMAIN)}


def rank_statistics(scores: np.ndarray, true_index: int, top_k=TOP_K) -> dict[str, float]:
    """Expected top-k hits and reciprocal rank of the candidate `true_index` among `scores` (higher is better),
    ties broken uniformly at random; nan scores rank below every number."""
    scores = np.where(np.isnan(scores), -np.inf, np.asarray(scores, float))
    true = scores[true_index]
    greater = int((scores > true).sum())
    tied = int((scores == true).sum()) - 1
    ranks = np.arange(greater + 1, greater + tied + 2)  # equally likely
    out = {f"top{k}": float(np.clip((k - greater) / (tied + 1), 0.0, 1.0)) for k in top_k}
    out["reciprocal_rank"] = float(np.mean(1.0 / ranks))
    out["rank"] = float(ranks.mean())
    return out


def chance_level(n_candidates: int, top_k=TOP_K) -> dict[str, float]:
    """What a ranking that knows nothing gets: top-k = min(k, C) / C and MRR = H(C) / C."""
    out = {f"chance_top{k}": min(k, n_candidates) / n_candidates for k in top_k}
    out["chance_mrr"] = float(np.sum(1.0 / np.arange(1, n_candidates + 1)) / n_candidates)
    return out


def golden_loglik(golden_scores: pl.DataFrame, split: dict[str, str], answers_per_question: int) -> pl.DataFrame:
    """The GoldenPropensity ceiling's scores, in the likelihood table's layout: for every (T, E) and candidate T' of
    T's half, the log-likelihood of M_T's observed answers' scores under (T', E)'s held-out golden propensity.
    Observed answers that do not count (`counted_score` null) are left out (n_answers counts those used); a candidate
    with no held-out counted sample gets nan (ranked last)."""
    scored = golden_scores.select("train_domain", "eval_domain", "sample_index", s=counted_score() / 100).with_columns(
        observed=pl.col("sample_index") < answers_per_question)
    held_out = (scored.filter(~pl.col("observed") & pl.col("s").is_not_null())
                .group_by("train_domain", "eval_domain")
                .agg(p=(pl.col("s").sum() + 0.5) / (pl.len() + 1))
                .rename({"train_domain": "candidate"}))
    observed = (scored.filter(pl.col("observed") & pl.col("s").is_not_null())
                .group_by("train_domain", "eval_domain")
                .agg(ones=pl.col("s").sum(), n_answers=pl.len()))
    halves = pl.DataFrame({"candidate": list(split), "half": list(split.values())})
    table = (observed.join(halves.rename({"candidate": "train_domain"}), on="train_domain")
             .join(halves, on="half")
             .join(held_out, on=["candidate", "eval_domain"], how="left")
             .with_columns(loglik=pl.col("ones") * pl.col("p").log()
                           + (pl.col("n_answers") - pl.col("ones")) * (1 - pl.col("p")).log())
             .with_columns(method=pl.lit(GOLDEN_PROPENSITY)))
    return table.select(list(LIKELIHOOD_SCHEMA)).cast(LIKELIHOOD_SCHEMA)


def with_golden_ceiling(likelihoods: pl.DataFrame, golden_scores: pl.DataFrame, split: dict[str, str],
                        answers_per_question: int) -> pl.DataFrame:
    """The forward methods' likelihoods and the GoldenPropensity ceiling's, for the eval domains the forward methods
    ranked (every one, or the sample of inverse.eval_domains): the ceiling is not ranked on pairs they skipped."""
    ranked = golden_scores.filter(pl.col("eval_domain").is_in(likelihoods["eval_domain"].unique().implode()))
    return pl.concat([likelihoods.cast(LIKELIHOOD_SCHEMA), golden_loglik(ranked, split, answers_per_question)])


def pair_ranks(likelihoods: pl.DataFrame, split: dict[str, str]) -> pl.DataFrame:
    """Per method and pair (T, E): the true T's rank statistics among the candidates of T's half. A pair is ranked
    only when every candidate of the half has a score (a missing row would silently shrink the field)."""
    from metasft.suites.domains import quadrant

    halves = {h: sorted(d for d, s in split.items() if s == h) for h in set(split.values())}
    rows = []
    for (method, eval_domain, train_domain), part in likelihoods.group_by(
            "method", "eval_domain", "train_domain", maintain_order=True):
        candidates = halves[split[train_domain]]
        by_candidate = dict(zip(part["candidate"].to_list(), part["loglik"].to_list()))
        if set(by_candidate) != set(candidates):
            missing = sorted(set(candidates) - set(by_candidate))
            raise ValueError(f"inverse likelihoods of {method} for ({train_domain}, {eval_domain}) lack candidates "
                             f"{missing[:5]}: rebuild the inverse_likelihoods chunk of {eval_domain}")
        scores = np.array([np.nan if by_candidate[c] is None else by_candidate[c] for c in candidates], float)
        rows.append({"method": method, "train_domain": train_domain, "eval_domain": eval_domain,
                     "quadrant": quadrant(split, train_domain, eval_domain), "n_candidates": len(candidates),
                     "n_answers": int(part["n_answers"].max()),
                     **rank_statistics(scores, candidates.index(train_domain))})
    schema = {"method": pl.String, "train_domain": pl.String, "eval_domain": pl.String, "quadrant": pl.String,
              "n_candidates": pl.Int64, "n_answers": pl.Int64, "top1": pl.Float64, "top5": pl.Float64,
              "reciprocal_rank": pl.Float64, "rank": pl.Float64}
    return pl.DataFrame(rows, schema=schema).sort("method", "train_domain", "eval_domain")


STATISTICS = {"top1": "top1", "top5": "top5", "mrr": "reciprocal_rank"}


def inverse_table(ranks: pl.DataFrame, n_resamples: int, confidence: float, seed: int,
                  resample: str = "domains") -> pl.DataFrame:
    """Per method and quadrant: mean top-1, top-5 and reciprocal rank over the quadrant's pairs with percentile CIs
    from resampling domains (or pairs: `resample`, `metasft.analysis.resampling`), one draw per quadrant shared by
    all methods, so they are paired; and chance levels. Pairs every method ranked are used (a method without scores
    for a pair drops it for all). `in_sample` flags MetaSFT's train_train row: its meta-model was trained on those
    very pairs' golden answers."""
    rows = []
    present = [m for m in INVERSE_METHODS if m in set(ranks["method"])]
    for quadrant_name in QUADRANTS:
        part = ranks.filter(pl.col("quadrant") == quadrant_name)
        if part.is_empty():
            continue
        common = None
        for method in present:
            pairs = set(part.filter(pl.col("method") == method).select("train_domain", "eval_domain").iter_rows())
            common = pairs if common is None else common & pairs
        common = sorted(common)
        keys = pl.DataFrame(common, schema=["train_domain", "eval_domain"], orient="row")
        n = len(common)
        design = PairDesign.of_quadrant(quadrant_name, keys["train_domain"], keys["eval_domain"])
        by_method = {method: keys.join(part.filter(pl.col("method") == method), on=["train_domain", "eval_domain"],
                                       how="left", maintain_order="left") for method in present}
        resampled = {}
        if n >= 2 and n_resamples > 0:
            for name, column in STATISTICS.items():
                means = resampled_means(np.stack([by_method[m][column].to_numpy() for m in present]), design,
                                        resample, n_resamples, derived_seed(seed, "inverse", quadrant_name),
                                        batch=n_resamples)
                resampled.update({(method, name): means[i] for i, method in enumerate(present)})
        for method in present:
            of_method = by_method[method]
            n_candidates = int(of_method["n_candidates"].max()) if n else 0
            row = {"method": method, "quadrant": quadrant_name, "resample": resample,
                   "in_sample": method in IN_SAMPLE and quadrant_name == "train_train", "n_pairs": n,
                   "n_candidates": n_candidates,
                   "answers_per_pair": float(of_method["n_answers"].mean()) if n else math.nan}
            for name, column in STATISTICS.items():
                values = of_method[column].to_numpy()
                row[name] = float(values.mean()) if n else math.nan
                row[f"{name}_lo"], row[f"{name}_hi"] = (percentile_interval(resampled[method, name], confidence)
                                                        if resampled else (math.nan, math.nan))
            row.update(chance_level(n_candidates) if n_candidates else
                       {"chance_top1": math.nan, "chance_top5": math.nan, "chance_mrr": math.nan})
            rows.append(row)
    schema = {"method": pl.String, "quadrant": pl.String, "resample": pl.String, "in_sample": pl.Boolean,
              "n_pairs": pl.Int64, "n_candidates": pl.Int64,
              "answers_per_pair": pl.Float64,
              **{f"{name}{suffix}": pl.Float64 for name in STATISTICS for suffix in ("", "_lo", "_hi")},
              "chance_top1": pl.Float64, "chance_top5": pl.Float64, "chance_mrr": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def inverse(suite_path, likelihood_paths: list[str], golden_score_paths: list[str], *, table_path, ranks_path,
            figure_path, answers_per_question: int, n_resamples: int, confidence: float, seed: int,
            resample: str = "domains") -> pl.DataFrame:
    """Rule `inverse`: the forward methods' likelihoods and the golden ceiling ranked, summarised and drawn."""
    from metasft.analysis.plots import inverse_figure
    from metasft.pipeline.io import read_parquet, write_csv, write_parquet
    from metasft.suites.snapshot import read_snapshot

    _, split = read_snapshot(suite_path)
    likelihoods = pl.concat([read_parquet(p) for p in likelihood_paths])
    golden = pl.concat([read_parquet(p, columns=["train_domain", "eval_domain", "sample_index", "status", "score"])
                        for p in golden_score_paths])
    ranks = pair_ranks(with_golden_ceiling(likelihoods, golden, split, answers_per_question), split)
    table = inverse_table(ranks, n_resamples, confidence, seed, resample)
    if table.is_empty() or table["mrr"].is_nan().all():
        raise ValueError("inverse prediction ranked no pair: the golden answers or the inverse likelihoods are empty")
    write_parquet(ranks, ranks_path)
    write_csv(table, table_path)
    inverse_figure(table, figure_path)
    return table
