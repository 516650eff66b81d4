"""The selection loop replayed on a finished run: "fine-tuning" T reveals its stored golden labels and nothing else.

A run with golden labels for every pair (all meta-train domains fine-tuned) holds every answer a live selection
loop could ever see. The replay starts from a seeded random set of `selection.initial` meta-train domains and adds
`selection.per_round` a round, chosen by a policy (`metasft.selection.policies`), up to `selection.budget`. Each
round repeats only what a live round would cost besides the fine-tunes:

1. meta-training on every labelled train_train pair so far (the golden answers of the chosen T with E in the
   meta-train half, as rule `meta_shards` builds them). Cold (`selection.warm_start: false`): a fresh adapter with
   the run's `meta_train` settings and seed, so a round that has chosen every meta-train domain is the run's own
   MetaSFT, answer for answer. Warm: the last round's adapter trained on, for the share of `meta_train.max_steps`
   that the round's new domains are of the meta-train half, so a curve to the whole half costs one meta-training;
2. MetaSFT's answers to the evaluation pairs (a fixed seeded subset of the three evaluation quadrants,
   `selection.simulation.eval_domains` domains a half, the same for every policy and seed), scored like the run's,
   and the RMSE per quadrant against the run's golden propensities with its domain-level bootstrap CI;
3. the policy's surrogates for the candidates (probe answers of the round's meta-model, `policies`).

Golden labels reach the loop only through `HiddenLabels`, which hands out the rows of domains already chosen and
records every read; the oracle's reads of hidden rows are recorded apart (`peeked`). The evaluation's own golden
propensities (the three evaluation quadrants) are the yardstick, never training data or a policy input.

Meta-training and sampling use the run's seeds in every curve: curves of one seed differ only in the domains
chosen, so policies are compared paired, and the bands over seeds show the spread of initial sets and random
choices, not of meta-training seeds (replicates measure that).
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from metasft.analysis.comparisons import EVALUATION_QUADRANTS
from metasft.analysis.metrics import MethodData, quadrant_bootstrap
from metasft.analysis.resampling import PairDesign
from metasft.analysis.statistics import percentile_interval
from metasft.methods.metasft import meta_train_seed
from metasft.pipeline.seeds import derived_seed
from metasft.selection.policies import POLICIES, SelectionError, Surrogates, choose
from metasft.selection.schedule import SelectionSettings, schedule, train_steps

log = logging.getLogger(__name__)

CURVE_SCHEMA = {"policy": pl.String, "seed": pl.Int64, "round": pl.Int64, "fine_tunes": pl.Int64,
                "quadrant": pl.String, "rmse": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
                "n_pairs": pl.Int64, "train_steps": pl.Int64, "train_seconds": pl.Float64,
                "evaluate_seconds": pl.Float64, "probe_seconds": pl.Float64, "shared_start": pl.Boolean}
ROUNDS_SCHEMA = {"policy": pl.String, "seed": pl.Int64, "round": pl.Int64, "domain": pl.String,
                 "chosen": pl.Boolean, "score": pl.Float64}


def seeded_sample(domains, n: int | None, seed: int, label: str) -> list[str]:
    """`n` of `domains` (all when n is None or larger), drawn by (label, seed) alone: sorted."""
    domains = sorted(domains)
    if n is None or n >= len(domains):
        return domains
    return sorted(random.Random(f"{label}:{seed}").sample(domains, n))


def initial_domains(meta_train: list[str], n: int, run_seed: int, simulation_seed: int) -> list[str]:
    """The seeded random start every policy of one simulation seed shares."""
    return seeded_sample(meta_train, n, derived_seed(run_seed, "selection-initial", simulation_seed), "initial")


def evaluation_pairs(split: dict[str, str], eval_domains: int | None, seed: int) -> dict[str, list[tuple[str, str]]]:
    """The fixed evaluation pairs per evaluation quadrant: `eval_domains` domains of each half (seeded), crossed as
    the quadrants cross the halves (all of them when None)."""
    halves = {h: seeded_sample([d for d, s in split.items() if s == f"meta_{h}"], eval_domains,
                               derived_seed(seed, "selection-evaluation", h), "evaluation") for h in ("train", "eval")}
    return {q: [(t, e) for t in halves[q.split("_")[0]] for e in halves[q.split("_")[1]]]
            for q in EVALUATION_QUADRANTS}


class HiddenLabels:
    """The golden answers of the meta-train rows (T in the meta-train half, E too), revealed row by row as the loop
    fine-tunes T. Every read is recorded: `read` the rows handed out, `peeked` the hidden rows the oracle read."""

    def __init__(self, golden_answers: pl.DataFrame, golden_propensity: pl.DataFrame, meta_train: list[str]):
        rows = golden_answers.filter(pl.col("quadrant") == "train_train")
        self._answers = {t: part for (t,), part in rows.partition_by("train_domain", as_dict=True).items()}
        prop = golden_propensity.filter(pl.col("quadrant") == "train_train")
        self._propensity = {t: dict(zip(part["eval_domain"], part["propensity"]))
                            for (t,), part in prop.partition_by("train_domain", as_dict=True).items()}
        missing = sorted(set(meta_train) - set(self._answers))
        if missing:
            raise SelectionError(f"the run has no golden answers of meta-train domains {missing[:5]}: the replay "
                                 "needs a run that fine-tuned every meta-train domain")
        self.meta_train = sorted(meta_train)
        self.revealed: list[str] = []
        self.read: set[str] = set()
        self.peeked: set[str] = set()

    def reveal(self, domains: list[str]) -> None:
        unknown = [d for d in domains if d not in self._answers]
        if unknown:
            raise SelectionError(f"not meta-train domains of the run: {unknown}")
        self.revealed.extend(d for d in domains if d not in self.revealed)

    def labelled_answers(self) -> pl.DataFrame:
        """The golden answers of every revealed T (meta-training data)."""
        self.read.update(self.revealed)
        return pl.concat([self._answers[t] for t in sorted(self.revealed)])

    def hidden_propensity(self, domain: str, policy: str) -> dict[str, float]:
        """Golden propensities of a row not yet revealed, for a policy that is allowed to see them (the oracle)."""
        if not POLICIES[policy].sees_hidden_labels:
            raise SelectionError(f"policy {policy!r} may not read the hidden golden labels of {domain!r}")
        self.peeked.add(domain)
        return self._propensity[domain]


class MetaModel(Protocol):
    """What the loop asks of a meta-model (`metasft.selection.stages.MetaModels` trains and samples the real one)."""
    run: "ReplayRun"
    seed: int  # the run's training seed
    meta_settings: object  # SFTSettings: the run's meta_train

    def train(self, labelled: pl.DataFrame, output_dir: Path, *, max_steps: int | None = None,
              init_adapter: Path | None = None, seed: int | None = None) -> dict: ...

    def predict(self, adapter: Path, pairs: list[tuple[str, str]], *, samples_per_question: int | None = None,
                draw: int = 0) -> pl.DataFrame: ...


@dataclass
class ReplayRun:
    """What the replay reads of a finished run."""
    suite: object
    split: dict[str, str]
    golden_answers: pl.DataFrame  # answer chunks of the meta-train T
    propensity: pl.DataFrame  # metrics/propensities.parquet: source, train_domain, eval_domain, quadrant, propensity

    def of(self, source: str) -> pl.DataFrame:
        return self.propensity.filter(pl.col("source") == source)

    @property
    def meta_train(self) -> list[str]:
        return sorted(d for d, s in self.split.items() if s == "meta_train")


def rmse_with_ci(predicted: pl.DataFrame, golden: pl.DataFrame, quadrant: str, n_resamples: int, confidence: float,
                 seed: int) -> tuple[float, float, float, int]:
    """RMSE of `predicted` (train_domain, eval_domain, propensity) against `golden` over the quadrant's pairs both
    have, with the domain-level bootstrap CI of the run's metrics (`metasft.analysis.resampling`)."""
    joined = predicted.join(golden.select("train_domain", "eval_domain", pl.col("propensity").alias("y")),
                            on=["train_domain", "eval_domain"]).drop_nulls(["propensity", "y"]).sort(
        "train_domain", "eval_domain")
    if joined.is_empty():
        return math.nan, math.nan, math.nan, 0
    design = PairDesign.of_quadrant(quadrant, joined["train_domain"].to_list(), joined["eval_domain"].to_list())
    data = [MethodData("MetaSFT", joined["propensity"].to_numpy()[None, :], joined["y"].to_numpy()[None, :])]
    points, resampled = quadrant_bootstrap(data, design, n_resamples, seed, "domains")
    low, high = percentile_interval(resampled["MetaSFT"]["rmse"], confidence) if n_resamples else (math.nan,) * 2
    return points["MetaSFT"]["rmse"], low, high, joined.height


def evaluate(predicted: pl.DataFrame, run: ReplayRun, pairs: dict[str, list[tuple[str, str]]], n_resamples: int,
             confidence: float, seed: int) -> list[dict]:
    """RMSE with its CI per evaluation quadrant of `predicted` on the fixed evaluation `pairs`, every caller (curve
    points and reference rows alike) on the same resamples of a quadrant."""
    golden = run.of("golden")
    rows = []
    for quadrant in EVALUATION_QUADRANTS:
        keep = pl.DataFrame(pairs[quadrant], schema=["train_domain", "eval_domain"], orient="row")
        value, low, high, n = rmse_with_ci(predicted.join(keep, on=["train_domain", "eval_domain"]), golden,
                                           quadrant, n_resamples, confidence, derived_seed(seed, "selection-ci",
                                                                                           quadrant))
        rows.append({"quadrant": quadrant, "rmse": value, "ci_low": low, "ci_high": high, "n_pairs": n})
    return rows


def _mean_abs_gap(a: pl.DataFrame, b: pl.DataFrame, name: str = "propensity") -> dict[str, float]:
    joined = a.join(b.select("train_domain", "eval_domain", pl.col(name).alias("other")),
                    on=["train_domain", "eval_domain"]).drop_nulls([name, "other"])
    return dict(joined.group_by("train_domain").agg((pl.col(name) - pl.col("other")).abs().mean()).iter_rows())


def icl_features(run: ReplayRun) -> dict[str, np.ndarray]:
    """UntrainedICL's propensities over the meta-train eval domains, per meta-train T (the diversity features);
    a missing value takes its eval domain's mean."""
    meta_train = run.meta_train
    table = run.of("UntrainedICL").filter(pl.col("quadrant") == "train_train").pivot(
        on="eval_domain", index="train_domain", values="propensity")
    table = table.select("train_domain", *[pl.col(e).fill_null(pl.col(e).mean()).fill_null(0.0)
                                           for e in meta_train if e in table.columns])
    return {row[0]: np.asarray(row[1:], float) for row in table.iter_rows() if row[0] in meta_train}


def surrogates(policy: str, candidates: list[str], adapter: Path, models: MetaModel, labels: HiddenLabels,
               probe: list[str], settings: SelectionSettings, features: dict[str, np.ndarray]) -> Surrogates:
    """What `policy` needs of the round's candidates (`policies`); probe answers only for the policies that read
    them."""
    needs, out = POLICIES[policy].needs, Surrogates()
    run = models.run
    icl = run.of("UntrainedICL")
    pairs = [(t, e) for t in candidates for e in probe]
    if "features" in needs:
        out.features = features
    if "surprise" in needs or "uncertainty" in needs:
        draws = settings.uncertainty_draws if "uncertainty" in needs else 1
        predicted = [models.predict(adapter, pairs, samples_per_question=settings.probe_samples_per_question, draw=d)
                     for d in range(draws)]
        if "surprise" in needs:
            out.surprise = _mean_abs_gap(predicted[0], icl)
        if "uncertainty" in needs:
            stacked = pl.concat([p.with_columns(draw=pl.lit(d)) for d, p in enumerate(predicted)])
            spread = stacked.group_by("train_domain", "eval_domain").agg(pl.col("propensity").std(ddof=1))
            out.uncertainty = dict(spread.group_by("train_domain").agg(pl.col("propensity").mean()).iter_rows())
    if "hidden_gap" in needs:
        icl_rows = {(t, e): p for t, e, p in icl.select("train_domain", "eval_domain", "propensity").iter_rows()}
        for t in candidates:
            gaps = [abs(y - icl_rows[t, e]) for e, y in labels.hidden_propensity(t, policy).items()
                    if y is not None and icl_rows.get((t, e)) is not None and e in labels.meta_train]
            out.hidden_gap[t] = float(np.mean(gaps)) if gaps else math.nan
    return out


@dataclass
class Start:
    """Round 0 of every curve of one seed (its initial set is the same for every policy), trained and evaluated once
    (rule simulate_selection_start)."""
    domains: list[str]
    adapter: Path
    predictions: pl.DataFrame
    train_seconds: float
    evaluate_seconds: float


def _train_round(models: MetaModel, labels: HiddenLabels, counts: list[int], r: int, settings: SelectionSettings,
                 previous: Path | None, target: Path) -> tuple[int, float]:
    started = time.time()
    steps = train_steps(counts, r, models.meta_settings.max_steps, settings.warm_start, len(labels.meta_train))
    models.train(labels.labelled_answers(), target, max_steps=steps,
                 init_adapter=previous if settings.warm_start else None,
                 seed=meta_train_seed(models.seed, r, settings.warm_start))
    return steps, time.time() - started


def start_round(models: MetaModel, settings: SelectionSettings, *, seed: int, simulation_seed: int,
                eval_domains: int | None, adapter: Path) -> Start:
    """Round 0 of `simulation_seed`: meta-training on the seeded initial set, MetaSFT's answers on the evaluation
    pairs."""
    run = models.run
    labels = HiddenLabels(run.golden_answers, run.of("golden"), run.meta_train)
    counts = schedule(len(run.meta_train), settings)
    labels.reveal(initial_domains(run.meta_train, counts[0], seed, simulation_seed))
    _, trained = _train_round(models, labels, counts, 0, settings, None, adapter)
    started = time.time()
    pairs = evaluation_pairs(run.split, eval_domains, seed)
    predicted = models.predict(adapter, [p for q in EVALUATION_QUADRANTS for p in pairs[q]])
    return Start(list(labels.revealed), adapter, predicted, trained, time.time() - started)


def replay(policy: str, simulation_seed: int, models: MetaModel, settings: SelectionSettings, *, seed: int,
           eval_domains: int | None, n_resamples: int, confidence: float, workdir: Path,
           labels: HiddenLabels | None = None, start: Start | None = None,
           ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """One learning curve: (curve rows, rounds rows, predictions per round). `seed` (config seed) draws the
    evaluation pairs, probes, initial set, the policy's random choices and the bootstrap; the models train and
    sample with the run's training seed. `workdir` holds the rounds' adapters (the caller's temporary folder).
    `start`: round 0 as `start_round` made it for this seed (else trained here)."""
    if policy not in POLICIES:
        raise SelectionError(f"unknown selection policy {policy!r}; known: {', '.join(POLICIES)}")
    run = models.run
    labels = labels or HiddenLabels(run.golden_answers, run.of("golden"), run.meta_train)
    counts = schedule(len(run.meta_train), settings)
    pairs = evaluation_pairs(run.split, eval_domains, seed)
    eval_pairs = [p for q in EVALUATION_QUADRANTS for p in pairs[q]]
    probe = seeded_sample(run.meta_train, settings.probe_eval_domains, derived_seed(seed, "selection-probe"), "probe")
    features = icl_features(run)
    rng = np.random.default_rng(derived_seed(seed, "selection", policy, simulation_seed))
    picked = initial_domains(run.meta_train, counts[0], seed, simulation_seed)
    if start is not None and sorted(start.domains) != picked:
        raise SelectionError(f"the shared start of seed {simulation_seed} was trained on {sorted(start.domains)}, "
                             f"not this seed's initial set {picked}: it was made with other selection settings; "
                             "rebuild it (snakemake --forcerun simulate_selection_start ...)")
    curve, rounds, predictions, adapter, last_scores = [], [], [], None, {}
    for r, count in enumerate(counts):
        labels.reveal(picked)
        rounds.extend({"policy": policy, "seed": simulation_seed, "round": r, "domain": d, "chosen": True,
                       "score": last_scores.get(d, math.nan)} for d in picked)
        if r == 0 and start is not None:
            adapter, predicted = start.adapter, start.predictions
            steps = train_steps(counts, 0, models.meta_settings.max_steps, settings.warm_start, len(run.meta_train))
            trained, evaluated = start.train_seconds, start.evaluate_seconds
        else:
            target = workdir / f"round{r}"
            steps, trained = _train_round(models, labels, counts, r, settings, adapter, target)
            adapter = target
            started = time.time()
            predicted = models.predict(adapter, eval_pairs)
            evaluated = time.time() - started
        predictions.append(predicted.with_columns(policy=pl.lit(policy), seed=pl.lit(simulation_seed),
                                                  round=pl.lit(r), fine_tunes=pl.lit(count)))
        started, probed = time.time(), 0.0
        if r + 1 < len(counts):
            candidates = [d for d in run.meta_train if d not in labels.revealed]
            found = surrogates(policy, candidates, adapter, models, labels, probe, settings, features)
            picked, last_scores = choose(policy, candidates, labels.revealed, counts[r + 1] - count, found, rng,
                                         settings.search_iterations)
            rounds.extend({"policy": policy, "seed": simulation_seed, "round": r + 1, "domain": d, "chosen": False,
                           "score": s} for d, s in sorted(last_scores.items()) if d not in picked)
            probed = time.time() - started
        for row in evaluate(predicted, run, pairs, n_resamples, confidence, seed):
            curve.append({"policy": policy, "seed": simulation_seed, "round": r, "fine_tunes": count, **row,
                          "train_steps": steps, "train_seconds": trained, "evaluate_seconds": evaluated,
                          "probe_seconds": probed, "shared_start": r == 0 and start is not None})
        log.info("selection %s seed %d round %d: %d fine-tunes, RMSE %s; %.0f s training, %.0f s evaluation, "
                 "%.0f s probes", policy, simulation_seed, r, count,
                 ", ".join(f"{c['quadrant']} {c['rmse']:.2f}" for c in curve[-3:]), trained, evaluated, probed)
    return (pl.DataFrame(curve, schema=CURVE_SCHEMA), pl.DataFrame(rounds, schema=ROUNDS_SCHEMA),
            pl.concat(predictions))
