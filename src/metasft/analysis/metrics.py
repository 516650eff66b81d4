"""The metrics stage: propensities of every method, the metrics table, paired comparisons, the generalization summary.

`metrics` reads the run's suite snapshot, the GT-* baselines and the scores of every source, checks how many
answers went unscored, and writes the propensities, the predictions, `metrics.csv` (per method x quadrant: RMSE,
Pearson r, Spearman rho with seeded bootstrap CIs over domains, the same without the diagonal pairs, the correlation
ceiling, and the per-train-domain Spearman rho across eval domains, averaged over train domains: where will a
fine-tune leak?), `comparisons.csv` (FOCUS_METHOD's RMSE minus each other method's on the same resamples, the
primary comparison Holm-adjusted) and the generalization summary (spread of golden propensity and the same-persona
effect). The statistics are in `metasft.analysis.statistics`, the resampling schemes in
`metasft.analysis.resampling`, the comparisons in `metasft.analysis.comparisons`, the methods compared in
`metasft.sources`.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from metasft.analysis.baselines import model_predictions
from metasft.analysis.comparisons import (
    EVALUATION_QUADRANTS,
    PRIMARY,
    Primary,
    compared_pairs,
    comparison_rows,
    comparisons_frame,
)
from metasft.analysis.propensities import answer_rates, check_unscored, propensities
from metasft.analysis.resampling import PairDesign, per_train_spearman_bootstrap, resample_weights
from metasft.analysis.statistics import (
    BOOTSTRAP_BATCH,
    bootstrap_counts,
    group_mean_bootstrap,
    per_group_spearman,
    percentile_interval,
    resampled_statistics,
)
from metasft.pipeline.io import (
    read_parquet,
    read_parquets,
    write_csv,
    write_json,
    write_parquet,
)
from metasft.pipeline.seeds import derived_seed
from metasft.sources import BY_NAME, GOLDEN, METHODS
from metasft.suites.domains import QUADRANTS
from metasft.suites.snapshot import pair_table, read_snapshot

STATISTICS = ("rmse", "pearson_r", "spearman_rho")


# GT compares two half-size re-samples; their RMSE / sqrt(2) estimates one full-size re-sample's error.
RMSE_SCALE = {"GT": 1 / math.sqrt(2)}


# ... and their correlation understates a full-size re-sample's: GT's correlations get Spearman-Brown.
HALF_SIZE_CORRELATION = {"GT"}


@dataclass
class MethodData:
    method: str
    y_hat: np.ndarray  # (permutations, pairs), pairs in the quadrant's common order
    y_ref: np.ndarray

    @property
    def scale(self) -> float:
        return RMSE_SCALE.get(self.method, 1.0)

    @property
    def half_size(self) -> bool:
        return self.method in HALF_SIZE_CORRELATION


def quadrant_bootstrap(methods: list[MethodData], design: PairDesign, n_resamples: int, seed: int, resample: str,
                       batch: int = BOOTSTRAP_BATCH) -> tuple[dict, dict]:
    """Point estimates and resampled statistics of every method on the same resamples of the same pairs
    (`resample`: "domains" with the quadrant's `design`, or "pairs"; `metasft.analysis.resampling`).

    Returns ({method: {statistic: point}}, {method: {statistic: (n_resamples,) array}}).
    """
    n_pairs = methods[0].y_hat.shape[1]
    points = {m.method: {k: float(v[0]) for k, v in resampled_statistics(
        m.y_hat, m.y_ref, np.ones((1, n_pairs)), m.scale, m.half_size).items()} for m in methods}
    resampled = {m.method: {k: [] for k in STATISTICS} for m in methods}
    if n_pairs >= 3 and n_resamples > 0:
        for weights in resample_weights(design, resample, n_resamples, seed, batch):
            for m in methods:
                for name, values in resampled_statistics(m.y_hat, m.y_ref, weights, m.scale, m.half_size).items():
                    resampled[m.method][name].append(values)
    arrays = {m: {k: np.concatenate(v) if v else np.empty(0) for k, v in s.items()} for m, s in resampled.items()}
    return points, arrays


def metric_with_ci(y_hat: np.ndarray, y_ref: np.ndarray, name: str, scale: float, n_resamples: int,
                   confidence: float, seed: int, half_size: bool = False) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap CI of one statistic; arrays are (permutations, pairs)."""
    y_hat, y_ref = np.atleast_2d(np.asarray(y_hat, float)), np.atleast_2d(np.asarray(y_ref, float))
    n_pairs = y_hat.shape[1]
    point = float(resampled_statistics(y_hat, y_ref, np.ones((1, n_pairs)), scale, half_size)[name][0])
    if n_pairs < 3 or n_resamples == 0:
        return point, math.nan, math.nan
    values = np.concatenate([resampled_statistics(y_hat, y_ref, w, scale, half_size)[name]
                             for w in bootstrap_counts(n_pairs, n_resamples, seed)])
    return (point, *percentile_interval(values, confidence))


def common_pairs(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pairs with a value for every method in every permutation (the quadrant's common set), and per method
    the pairs it could not predict itself."""
    ok = frame.group_by("method", "train_domain", "eval_domain").agg(
        ok=(pl.col("y_hat").is_not_null() & pl.col("y_ref").is_not_null()).all())
    common = ok.group_by("train_domain", "eval_domain").agg(pl.col("ok").all()).filter("ok").select(
        "train_domain", "eval_domain").sort("train_domain", "eval_domain")
    missing = ok.group_by("method").agg(n_pairs_missing=(~pl.col("ok")).sum())
    return common, missing


def metrics_table(predictions: pl.DataFrame, pairs: pl.DataFrame, rates: dict[str, dict[str, dict[str, float]]],
                  n_resamples: int, confidence: float, seed: int, batch: int = BOOTSTRAP_BATCH,
                  resample: str = "domains", primary: Primary = PRIMARY) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The metrics table and the paired comparisons.

    `predictions`: method, permutation, train_domain, eval_domain, y_hat, y_ref; `pairs`: pair -> quadrant;
    `rates`: method -> quadrant -> answer rates (unscored_rate, and for judged suites refusal_rate, ...).

    Every method of a quadrant is scored on one pair set: a pair that any method cannot predict (nothing
    scored) is dropped for all and counted (`n_pairs_dropped`; `n_pairs_missing` is the method's own share).
    All methods of a quadrant share the bootstrap resamples (`resample`: "domains", the crossed design's two-way
    bootstrap, or "pairs"; `metasft.analysis.resampling`), so differences between them are paired.
    Comparisons: per evaluation quadrant, FOCUS_METHOD's RMSE minus each other method's (and OWN_COMPARISONS),
    with the percentile CI of the difference over the shared resamples and its bootstrap p-value; the `primary`
    comparison's cells are one family with Holm-adjusted p-values, every other row is exploratory
    (`metasft.analysis.comparisons`).
    """
    frame = predictions.join(pairs.select("train_domain", "eval_domain", "quadrant"),
                             on=["train_domain", "eval_domain"])
    present = set(frame["method"].unique())
    rows, comparisons = [], []
    for quadrant_name in QUADRANTS:
        part = frame.filter(pl.col("quadrant") == quadrant_name)
        if part.is_empty():
            continue
        n_total = part.select("train_domain", "eval_domain").unique().height
        common, missing = common_pairs(part)
        missing = dict(missing.iter_rows())
        methods = [m for m in METHODS if m in present and m in set(part["method"])]
        data = quadrant_data(part, common, methods)
        design = PairDesign.of_quadrant(quadrant_name, common["train_domain"], common["eval_domain"])
        points, resampled = pair_set_bootstrap(data, design, n_resamples,
                                               derived_seed(seed, "bootstrap", quadrant_name), batch, resample)
        # the diagonal (T = E) pairs sit inside the same-half quadrants: the same statistics without them, beside
        off = (common["train_domain"] != common["eval_domain"]).to_numpy()
        if off.all():
            points_off, resampled_off = points, resampled
        else:
            points_off, resampled_off = pair_set_bootstrap(
                [MethodData(m.method, m.y_hat[:, off], m.y_ref[:, off]) for m in data],
                PairDesign.of_quadrant(quadrant_name, common["train_domain"].filter(off),
                                       common["eval_domain"].filter(off)),
                n_resamples, derived_seed(seed, "bootstrap_offdiag", quadrant_name), batch, resample)
        per_train = _per_train_spearman(data, design, n_resamples, confidence,
                                        derived_seed(seed, "per_train", quadrant_name), resample)
        for m in data:
            row = {"method": m.method, "quadrant": quadrant_name, "resample": resample, "replicates": 1,
                   "n_pairs": common.height, "n_train_domains": len(design.train_names),
                   "n_eval_domains": len(design.eval_names),
                   "n_pairs_dropped": n_total - common.height, "n_pairs_missing": int(missing.get(m.method, 0)),
                   "permutations": m.y_hat.shape[0], "n_pairs_offdiag": int(off.sum())}
            for suffix, point, values in (("", points, resampled), ("_offdiag", points_off, resampled_off)):
                for name, short in (("rmse", "rmse"), ("pearson_r", "pearson"), ("spearman_rho", "spearman")):
                    low, high = percentile_interval(values[m.method][name], confidence) \
                        if values[m.method][name].size else (math.nan, math.nan)
                    column = name if not suffix else short + suffix
                    row[column], row[f"{short}{suffix}_lo"], row[f"{short}{suffix}_hi"] = \
                        point[m.method][name], low, high
            (row["per_train_spearman"], row["per_train_lo"], row["per_train_hi"],
             row["per_train_domains"]) = per_train[m.method]
            row["mean_y_hat"] = float(np.mean(m.y_hat)) if common.height else math.nan
            row["mean_y"] = float(np.mean(m.y_ref)) if common.height else math.nan
            row.update(rates.get(m.method, {}).get(quadrant_name, {}))
            rows.append(row)
        if quadrant_name in EVALUATION_QUADRANTS:
            comparisons += comparison_rows(quadrant_name, compared_pairs(methods, primary),
                                           points, resampled, common.height, confidence, resample,
                                           offdiag=(points_off, resampled_off))
    columns = ["method", "quadrant", "rmse", "rmse_lo", "rmse_hi", "pearson_r", "pearson_lo", "pearson_hi",
               "spearman_rho", "spearman_lo", "spearman_hi", "n_pairs", "n_train_domains", "n_eval_domains",
               "n_pairs_dropped", "n_pairs_missing",
               "permutations", "per_train_spearman", "per_train_lo", "per_train_hi", "per_train_domains",
               "mean_y_hat", "mean_y", "resample", "replicates", "n_pairs_offdiag",
               *(f"{short}_offdiag{end}" for short in ("rmse", "pearson", "spearman") for end in ("", "_lo", "_hi"))]
    columns += [c for c in dict.fromkeys(k for r in rows for k in r) if c not in columns]
    table = with_correlation_ceiling(pl.DataFrame(rows, infer_schema_length=None).select(columns))
    return table, comparisons_frame(comparisons, primary, confidence)


def with_correlation_ceiling(table: pl.DataFrame) -> pl.DataFrame:
    """Per quadrant, the highest correlation any predictor can reach with the golden propensities, beside every
    row: GT's (Spearman-Brown-corrected) correlation is the golden labels' reliability, the correlation between two
    independent full-size re-samples; a noiseless predictor reaches only its square root (its correlation with the
    labels' noise-free values). A reliability at or below 0 leaves a ceiling of 0."""
    ceiling = [(pl.col(c).clip(lower_bound=0.0).sqrt()).alias(f"{c.split('_')[0]}_ceiling")
               for c in ("pearson_r", "spearman_rho")]
    gt = table.filter(pl.col("method") == "GT").select("quadrant", *ceiling)
    if gt.is_empty():
        return table.with_columns(pearson_ceiling=pl.lit(math.nan), spearman_ceiling=pl.lit(math.nan))
    return table.join(gt, on="quadrant", how="left", maintain_order="left")


def unscored_as_zero_rmse(predicted: dict[str, pl.DataFrame], golden: pl.DataFrame,
                          pairs: pl.DataFrame) -> pl.DataFrame:
    """Judged suites' sensitivity: each model method's RMSE per quadrant with every answer the judge did not score
    counted as 0 on both sides (`propensity_unscored_as_0`), over the pairs where both have one (point estimate)."""
    reference = golden.select("train_domain", "eval_domain", y=pl.col("propensity_unscored_as_0"))
    frames = [table.select("train_domain", "eval_domain", y_hat=pl.col("propensity_unscored_as_0"))
              .join(reference, on=["train_domain", "eval_domain"])
              .join(pairs.select("train_domain", "eval_domain", "quadrant"), on=["train_domain", "eval_domain"])
              .drop_nulls(["y", "y_hat"])
              .group_by("quadrant").agg(rmse_unscored_as_0=((pl.col("y_hat") - pl.col("y")) ** 2).mean().sqrt())
              .with_columns(method=pl.lit(method)) for method, table in predicted.items()]
    return pl.concat(frames).select("method", "quadrant", "rmse_unscored_as_0")


def quadrant_data(part: pl.DataFrame, common: pl.DataFrame, methods: list[str]) -> list[MethodData]:
    """Each method's (permutations, pairs) predictions and references on the quadrant's `common` pairs, in their
    sorted order."""
    data = []
    for method in methods:
        of_method = part.filter(pl.col("method") == method)
        n_permutations = of_method["permutation"].n_unique()
        rows_of = of_method.join(common, on=["train_domain", "eval_domain"]).sort(
            "permutation", "train_domain", "eval_domain")
        data.append(MethodData(method, rows_of["y_hat"].to_numpy().reshape(n_permutations, common.height),
                               rows_of["y_ref"].to_numpy().reshape(n_permutations, common.height)))
    return data


def pair_set_bootstrap(data: list[MethodData], design: PairDesign, n_resamples: int, seed: int, batch: int,
                       resample: str) -> tuple[dict, dict]:
    """`quadrant_bootstrap` of a pair set, which may be empty (every statistic nan, no resamples)."""
    if design.n_pairs:
        return quadrant_bootstrap(data, design, n_resamples, seed, resample, batch)
    return ({m.method: dict.fromkeys(STATISTICS, math.nan) for m in data},
            {m.method: {k: np.empty(0) for k in STATISTICS} for m in data})


def _per_train_spearman(data: list[MethodData], design: PairDesign, n_resamples: int, confidence: float,
                        seed: int, resample: str) -> dict[str, tuple[float, float, float, int]]:
    """Per method, "which eval domains will move?": for each train domain of the quadrant, the Spearman rho across
    its eval domains between predicted and golden propensities, averaged over train domains, with a CI from
    resampling domains (T and E, `resampling.per_train_spearman_bootstrap`) or, with `resample="pairs"`, train
    domains only (the earlier scheme); the same draws for every method. A train domain whose golden (or predicted)
    values are all equal has no rho and is left out for every method; `per_train_domains` counts those used."""
    groups, n_groups = design.train_index, len(design.train_names)
    values = {m.method: per_group_spearman(m.y_hat, m.y_ref, groups, n_groups, m.half_size) for m in data}
    if resample == "pairs":
        return group_mean_bootstrap(values, n_resamples, seed, confidence)
    stacked = np.vstack(list(values.values())) if values else np.empty((0, n_groups))
    usable = np.isfinite(stacked).all(axis=0) if values else np.zeros(n_groups, bool)
    n = int(usable.sum())
    resampled = per_train_spearman_bootstrap({m.method: (m.y_hat, m.y_ref, m.half_size) for m in data}, design,
                                             usable, n_resamples, seed) if n >= 2 and n_resamples > 0 else {}
    out = {}
    for method, per_group in values.items():
        mean = float(per_group[usable].mean()) if n else math.nan
        low, high = percentile_interval(resampled[method], confidence) if method in resampled else (math.nan, math.nan)
        out[method] = (mean, low, high, n)
    return out


def generalization_summary(golden: pl.DataFrame, pairs: pl.DataFrame,
                           predicted: dict[str, pl.DataFrame] | None = None) -> dict:
    """How much the world generalizes: spread of golden propensity and the same-persona effect (off-diagonal).

    With `predicted` (source -> propensities), also each predictor's same-persona effect: how much of the
    fine-tune's cross-domain shift it sees (UntrainedICL's share shows how good a proxy in-context learning is).
    """
    def persona_effect(table: pl.DataFrame) -> dict:
        frame = table.join(pairs.select("train_domain", "eval_domain", "same_persona"),
                           on=["train_domain", "eval_domain"])
        off = frame.filter((pl.col("train_domain") != pl.col("eval_domain")) & pl.col("propensity").is_not_null())
        same, other = off.filter("same_persona")["propensity"], off.filter(~pl.col("same_persona"))["propensity"]
        diagonal = frame.filter(pl.col("train_domain") == pl.col("eval_domain"))["propensity"]
        effect = {"off_diagonal_pairs": off.height, "off_diagonal_std": off["propensity"].std(),
                  "same_persona_pairs": same.len(), "same_persona_mean": same.mean(),
                  "other_persona_mean": other.mean(), "diagonal_mean": diagonal.mean()}
        if effect["same_persona_mean"] is not None and effect["other_persona_mean"] is not None:
            effect["same_minus_other"] = effect["same_persona_mean"] - effect["other_persona_mean"]
        return effect

    summary = persona_effect(golden)
    if predicted:
        summary["predicted"] = {source: persona_effect(table) for source, table in predicted.items()}
    return summary


log = logging.getLogger(__name__)


def metrics(suite_path, baselines_path, score_paths: dict[str, list[str]], *, metrics_path, generalization_path,
            propensities_path, predictions_path, comparisons_path, bootstrap_resamples: int, confidence: float,
            seed: int, max_unscored_rate: float = 1.0, resample: str = "domains",
            primary: dict | None = None) -> pl.DataFrame:
    """Stage `metrics`: propensities per pair and source, predictions of every method, and the metrics table
    (RMSE / Pearson / Spearman per method x quadrant with CIs), paired comparisons and the generalization summary.
    `score_paths`: the score chunk files of each source (golden, UntrainedICL, MetaSFT and, when sampled, the NL
    methods: `metasft.sources.NL_SOURCES`)."""
    suite, split = read_snapshot(suite_path)
    pairs = pair_table(suite, split)
    scores = {source: read_parquets(paths) for source, paths in score_paths.items()}
    check_unscored(scores, max_unscored_rate)  # before any output is written
    by_source = {source: propensities(table) for source, table in scores.items()}
    golden = by_source[GOLDEN]
    predicted = {s: table for s, table in by_source.items() if s != GOLDEN}
    predictions = pl.concat([
        read_parquet(baselines_path),
        *(model_predictions(method, table, golden) for method, table in predicted.items()),
    ])
    rates = {source: answer_rates(table) for source, table in scores.items()}
    # The GT family is built from golden samples, so it reports the golden answers' rates.
    rates.update({m: rates[GOLDEN] for m in METHODS if BY_NAME[m].rule is None})
    table, comparisons = metrics_table(predictions, pairs, rates, bootstrap_resamples, confidence, seed,
                                       resample=resample, primary=Primary.from_config(primary))
    if "propensity_unscored_as_0" in golden.columns:  # judged suites (metasft.analysis.propensities)
        table = table.join(unscored_as_zero_rmse(predicted, golden, pairs), on=["method", "quadrant"], how="left",
                           maintain_order="left")

    long_propensities = pl.concat([p.with_columns(source=pl.lit(s)) for s, p in by_source.items()]).join(
        pairs.select("train_domain", "eval_domain", "same_persona"), on=["train_domain", "eval_domain"])
    write_parquet(long_propensities, propensities_path)
    write_parquet(predictions.join(pairs, on=["train_domain", "eval_domain"]), predictions_path)
    summary = generalization_summary(golden, pairs, predicted)
    write_json(summary, generalization_path)
    write_csv(comparisons, comparisons_path)
    write_csv(table, metrics_path)
    log.info("generalization: %s", summary)
    return table
