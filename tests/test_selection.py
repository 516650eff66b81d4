"""Selection of meta-train domains: policies, the replay's schedule and label access, learning-curve statistics."""

from __future__ import annotations

import math
import re
import shutil
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from metasft.selection.curves import FULL, area_under_curve, fine_tunes_to_reach, summary
from metasft.selection.policies import SelectionError, Surrogates, annealed_set, choose, k_center, set_objective, top
from metasft.selection.schedule import SelectionSettings, schedule, train_steps
from metasft.selection.simulation import HiddenLabels, ReplayRun, evaluation_pairs, initial_domains, replay


def settings(**overrides) -> SelectionSettings:
    values = dict(initial=10, per_round=10, budget=None, warm_start=False, probe_eval_domains=3,
                  probe_samples_per_question=1, uncertainty_draws=2, search_iterations=200)
    return SelectionSettings(**{**values, **overrides})


def test_the_schedule_adds_per_round_domains_up_to_the_budget():
    assert schedule(50, settings()) == [10, 20, 30, 40, 50]
    assert schedule(50, settings(budget=35, per_round=10)) == [10, 20, 30, 35]
    assert schedule(4, settings(initial=1, per_round=3, budget=2)) == [1, 2]
    with pytest.raises(SelectionError, match="selection.initial = 60 .* 50 meta-train domains"):
        schedule(50, settings(initial=60))
    with pytest.raises(SelectionError, match="selection.initial = 20 exceeds selection.budget = 10"):
        schedule(50, settings(initial=20, budget=10))


def test_warm_rounds_share_the_meta_training_steps_by_the_domains_they_add():
    counts = [10, 20, 30, 35]  # of a meta-train half of 50: 700 steps x 10 / 50, and x 5 / 50 (rounded up)
    assert [train_steps(counts, r, 700, True, 50) for r in range(4)] == [140, 140, 140, 70]
    assert [train_steps(counts, r, 700, False, 50) for r in range(4)] == [700] * 4
    assert train_steps([1, 2], 1, 3, True, 50) == 1  # at least one step


def test_top_breaks_ties_by_name_and_refuses_a_candidate_without_a_score():
    assert top({"b": 2.0, "a": 2.0, "c": 1.0, "d": 3.0}, ["a", "b", "c", "d"], 3) == ["d", "a", "b"]
    with pytest.raises(SelectionError, match=r"no surrogate score for candidate domains \['c'\]"):
        top({"a": 1.0, "b": 0.5}, ["a", "b", "c"], 1)


def test_k_center_picks_the_candidate_farthest_from_everything_chosen():
    features = {name: np.array([x]) for name, x in {"a": 0.0, "b": 1.0, "c": 5.0, "d": 10.0, "e": 9.0}.items()}
    # nearest chosen: b 1, c 5, d 10, e 9 -> d; then b 1, c 5, e 1 -> c
    assert k_center(features, ["a"], ["b", "c", "d", "e"], 2) == ["d", "c"]
    # nothing chosen: the first pick is the farthest from the candidates' mean (5.0): b (4) and d (5) -> d
    assert k_center(features, [], ["b", "c", "d"], 1) == ["d"]


def test_the_search_objective_discounts_a_member_close_to_another():
    features = {"a1": np.array([0.0]), "a2": np.array([1.0]), "b": np.array([10.0])}
    surprise = {"a1": 10.0, "a2": 9.0, "b": 8.0}
    distance = {(x, y): abs(features[x][0] - features[y][0]) for x in features for y in features}
    # a1 and a2 are 1 apart, scale 10: each counts a tenth
    assert set_objective(["a1", "a2"], surprise, distance, [], 10.0) == pytest.approx(1.0 + 0.9)
    # b is 9 from a2 (0.9 of the scale) and a2 is 9 from b
    assert set_objective(["a2", "b"], surprise, distance, [], 10.0) == pytest.approx(9.0 * 0.9 + 8.0 * 0.9)
    # a chosen domain discounts too: a2 next to chosen a1
    assert set_objective(["a2"], surprise, distance, ["a1"], 10.0) == pytest.approx(0.9)


def test_search_trades_a_cluster_of_alike_outliers_for_one_of_them_and_a_distinct_domain():
    features = {"a1": np.array([0.0]), "a2": np.array([0.0]), "b": np.array([10.0]), "c": np.array([10.5])}
    surprise = {"a1": 10.0, "a2": 9.9, "b": 8.0, "c": 1.0}
    assert top(surprise, list(surprise), 2) == ["a1", "a2"]
    picked = annealed_set(surprise, features, [], list(surprise), 2, np.random.default_rng(0), 300)
    assert picked == ["a1", "b"]


def test_random_choice_is_reproduced_by_its_seed():
    candidates = [f"d{i:02d}" for i in range(40)]
    first = choose("random", candidates, [], 10, Surrogates(), np.random.default_rng(7))[0]
    assert first == choose("random", candidates, [], 10, Surrogates(), np.random.default_rng(7))[0]
    assert first != choose("random", candidates, [], 10, Surrogates(), np.random.default_rng(8))[0]
    with pytest.raises(SelectionError, match="unknown selection policy 'greedy'"):
        choose("greedy", candidates, [], 1, Surrogates(), np.random.default_rng(0))


def test_initial_sets_and_evaluation_pairs_are_seeded():
    meta_train = [f"t{i:02d}" for i in range(20)]
    start = initial_domains(meta_train, 5, run_seed=0, simulation_seed=1)
    assert start == initial_domains(meta_train, 5, run_seed=0, simulation_seed=1) and len(set(start)) == 5
    assert start != initial_domains(meta_train, 5, run_seed=0, simulation_seed=2)
    split = {**{d: "meta_train" for d in meta_train}, **{f"e{i:02d}": "meta_eval" for i in range(20)}}
    pairs = evaluation_pairs(split, 4, seed=3)
    assert {q: len(p) for q, p in pairs.items()} == {"train_eval": 16, "eval_train": 16, "eval_eval": 16}
    assert all(t.startswith("t") and e.startswith("e") for t, e in pairs["train_eval"])
    assert all(t.startswith("e") and e.startswith("t") for t, e in pairs["eval_train"])
    assert pairs == evaluation_pairs(split, 4, seed=3)
    assert len(evaluation_pairs(split, None, seed=3)["eval_eval"]) == 400


def test_area_under_the_curve_and_fine_tunes_to_reach_by_hand():
    # ((10 + 8) / 2 * 10 + (8 + 7) / 2 * 20) / 30 = 8.0
    assert area_under_curve(np.array([10, 20, 40]), np.array([10.0, 8.0, 7.0])) == pytest.approx(8.0)
    assert area_under_curve(np.array([40, 10, 20]), np.array([7.0, 10.0, 8.0])) == pytest.approx(8.0)
    x = np.array([10, 20, 30, 40])
    assert fine_tunes_to_reach(x, [False, True, False, True]) == 40
    assert fine_tunes_to_reach(x, [False, True, True, True]) == 20
    assert fine_tunes_to_reach(x, [True, True, True, True]) == 10
    assert math.isnan(fine_tunes_to_reach(x, [True, True, True, False]))


def _curve(policy, seed, values):
    """Curve rows with the same RMSE in the three quadrants at fine-tunes 10, 20, 30."""
    return [{"policy": policy, "seed": seed, "fine_tunes": n, "quadrant": q, "rmse": v}
            for n, v in zip((10, 20, 30), values) for q in ("train_eval", "eval_train", "eval_eval")]


def test_the_summary_compares_each_policy_with_random_on_the_same_seed():
    curves = pl.DataFrame([*_curve("random", 0, [12, 11, 10]), *_curve("random", 1, [13, 12, 11]),
                           *_curve("surprise", 0, [12, 10, 9]), *_curve("surprise", 1, [13, 12, 12])])
    references = pl.DataFrame([{"policy": FULL, "quadrant": q, "rmse": 9.5, "ci_low": 9.0, "ci_high": 10.0}
                               for q in ("train_eval", "eval_train", "eval_eval")] +
                              [{"policy": "UntrainedICL", "quadrant": q, "rmse": v, "ci_low": v - 1, "ci_high": v + 1}
                               for q, v in (("train_eval", 11.0), ("eval_train", 10.5), ("eval_eval", 10.0))])
    table = summary(curves, references)
    # UntrainedICL at most the full run's upper bound (10.0) in eval_eval only: not in every quadrant
    assert dict(table.filter(policy="surprise").select("quadrant", "untrained_within_full").iter_rows()) == \
        {"train_eval": False, "eval_train": False, "eval_eval": True, "all": False}
    everywhere = summary(curves, references.with_columns(rmse=pl.when(pl.col("policy") == "UntrainedICL")
                                                         .then(9.9).otherwise(pl.col("rmse"))))
    assert everywhere["untrained_within_full"].all()
    row = table.filter(policy="surprise", quadrant="eval_eval").row(0, named=True)
    # AUC: random 11.0 and 12.0; surprise (12 + 10) / 4 + (10 + 9) / 4 = 10.25 and 12.25: differences -0.75, +0.25
    assert row["auc_mean"] == pytest.approx((10.25 + 12.25) / 2)
    assert row["auc_minus_random"] == pytest.approx(-0.25)
    assert row["seeds_below_random"] == 1
    # within the full run's CI (<= 10.0) from 20 on for seed 0; never for seed 1 (12 at 30)
    assert row["fine_tunes_to_full_median"] == 20 and row["seeds_reaching_full"] == 1
    randoms = table.filter(policy="random", quadrant="all").row(0, named=True)
    assert randoms["auc_minus_random"] == 0 and randoms["fine_tunes_to_full_median"] == 30
    assert randoms["seeds_reaching_full"] == 1


# A world of 12 domains (6 a half) whose golden labels and UntrainedICL propensities are known, and meta-models
# that record what they were trained on: the replay's bookkeeping without torch.
def _world():
    meta_train, meta_eval = [f"t{i}" for i in range(6)], [f"e{i}" for i in range(6)]
    split = {**{d: "meta_train" for d in meta_train}, **{d: "meta_eval" for d in meta_eval}}
    rng = random.Random(0)
    propensity, answers = [], []
    for t in split:
        for e in split:
            q = f"{split[t][5:]}_{split[e][5:]}"
            y = float(rng.randrange(0, 101, 25))
            propensity += [{"source": "golden", "train_domain": t, "eval_domain": e, "quadrant": q, "propensity": y},
                           {"source": "UntrainedICL", "train_domain": t, "eval_domain": e, "quadrant": q,
                            "propensity": float(rng.randrange(0, 101, 25))}]
            answers.append({"train_domain": t, "eval_domain": e, "quadrant": q, "question_index": 0,
                            "sample_index": 0, "answer": f"{t}->{e}"})
    return ReplayRun(None, split, pl.DataFrame(answers), pl.DataFrame(propensity))


class RecordingModels:
    """Predicts each pair as the mean golden propensity of its eval domain over the labelled rows it was trained on."""

    def __init__(self, run):
        self.run, self.seed, self.meta_settings = run, 0, type("S", (), {"max_steps": 10})()
        self.trained_on, self.means = [], {}

    def train(self, labelled, output_dir, **kwargs):
        self.trained_on.append(sorted(set(labelled["train_domain"])))
        golden = self.run.of("golden").join(labelled.select("train_domain", "eval_domain").unique(),
                                            on=["train_domain", "eval_domain"])
        self.means = dict(golden.group_by("eval_domain").agg(pl.col("propensity").mean()).iter_rows())
        return {}

    def predict(self, adapter, pairs, *, samples_per_question=None, draw=0):
        jitter = 5.0 * draw  # another draw of the examples moves the prediction
        return pl.DataFrame([{"train_domain": t, "eval_domain": e,
                              "propensity": self.means.get(e, 50.0) + jitter * (int(t[1:]) % 2)} for t, e in pairs])


@pytest.mark.parametrize("policy", ["random", "surprise", "uncertainty", "search", "diversity", "oracle"])
def test_a_policy_never_sees_golden_labels_of_domains_it_has_not_chosen(policy, tmp_path: Path):
    run = _world()
    models = RecordingModels(run)
    labels = HiddenLabels(run.golden_answers, run.of("golden"), run.meta_train)
    curve, rounds, _ = replay(policy, 0, models, settings(initial=2, per_round=2, budget=None), seed=0,
                              eval_domains=None, n_resamples=20, confidence=0.95, workdir=tmp_path, labels=labels)
    chosen = rounds.filter("chosen").sort("round")
    assert chosen.group_by("round").len().sort("round")["len"].to_list() == [2, 2, 2]
    # each round trains on exactly the domains chosen up to it
    expected, so_far = [], []
    for r in range(3):
        so_far = sorted({*so_far, *chosen.filter(pl.col("round") == r)["domain"]})
        expected.append(so_far)
    assert models.trained_on == expected
    assert labels.read <= set(labels.revealed)
    if policy == "oracle":
        assert labels.peeked  # flagged: it read rows it had not chosen
        assert not labels.peeked & set(chosen.filter(pl.col("round") == 0)["domain"])
    else:
        assert not labels.peeked
    assert curve.height == 9 and curve["rmse"].is_finite().all()


def test_only_the_oracle_may_read_hidden_rows():
    run = _world()
    labels = HiddenLabels(run.golden_answers, run.of("golden"), run.meta_train)
    with pytest.raises(SelectionError, match="policy 'surprise' may not read the hidden golden labels of 't1'"):
        labels.hidden_propensity("t1", "surprise")
    assert len(labels.hidden_propensity("t1", "oracle")) == 6 and labels.peeked == {"t1"}
    labels.reveal(["t0"])
    assert set(labels.labelled_answers()["train_domain"]) == {"t0"} and labels.read == {"t0"}
    with pytest.raises(SelectionError, match="not meta-train domains of the run: \\['e0'\\]"):
        labels.reveal(["e0"])


def test_a_seed_reproduces_the_chosen_sets(tmp_path: Path):
    run = _world()

    def chosen(policy, seed):
        _, rounds, _ = replay(policy, seed, RecordingModels(run), settings(initial=2, per_round=2), seed=0,
                              eval_domains=None, n_resamples=0, confidence=0.95, workdir=tmp_path)
        return rounds.filter("chosen").select("round", "domain").rows()

    for policy in ("random", "search"):
        assert chosen(policy, 3) == chosen(policy, 3)
    assert any(chosen("random", 3) != chosen("random", s) for s in (4, 5, 6))


def _replay_on_mini(mini_run: Path, tmp_path: Path, policy: str, **overrides):
    """The replay of `policy` on the mini run's labels with the run's own meta-training and sampling settings."""
    from metasft.generation.requests import SamplingSettings
    from metasft.models.training import SFTSettings
    from metasft.pipeline.config import settings_from
    from metasft.pipeline.replicates import training_seed
    from metasft.runs.ask import load_run
    from metasft.selection.stages import MetaModels, read_replay_run

    results = mini_run / "results" / "mini"
    config = load_run(results).config
    run = read_replay_run(results / "suite" / "suite.json",
                          sorted(map(str, (results / "answers" / "golden" / "chunks").glob("*.parquet"))),
                          results / "metrics" / "propensities.parquet")
    models = MetaModels(run, base_model=str(results / "base_model"), chat=config["chat"],
                        meta_settings=settings_from(SFTSettings, config["meta_train"], "meta_train"),
                        sampling=settings_from(SamplingSettings, config["generation"], "generation"),
                        icl_k=config["icl"]["k"], seed=training_seed(config), judge=config["judge"],
                        threads=config["meta_train"]["threads"], run_name="mini")
    return run, config, replay(policy, 0, models, settings(initial=1, per_round=1, **overrides), seed=config["seed"],
                               eval_domains=None, n_resamples=50, confidence=0.95, workdir=tmp_path)


@pytest.mark.slow
def test_the_full_budget_replay_without_warm_start_is_the_runs_own_metasft(mini_run, tmp_path):
    run, config, (curve, rounds, predictions) = _replay_on_mini(mini_run, tmp_path, "surprise")
    assert rounds.filter("chosen")["round"].to_list() == [0, 1]  # the mini run's 2 meta-train domains, one a round
    last = predictions.filter(pl.col("round") == 1)
    own = run.of("MetaSFT").join(last.select("train_domain", "eval_domain"), on=["train_domain", "eval_domain"])
    assert last.height == 12 and own.height == 12  # every pair of the three evaluation quadrants
    assert dict(zip(zip(last["train_domain"], last["eval_domain"]), last["propensity"])) == \
        dict(zip(zip(own["train_domain"], own["eval_domain"]), own["propensity"]))
    metrics = pl.read_csv(mini_run / "results" / "mini" / "metrics" / "metrics.csv").filter(method="MetaSFT")
    for row in curve.filter(pl.col("round") == 1).iter_rows(named=True):
        assert row["rmse"] == pytest.approx(metrics.filter(quadrant=row["quadrant"])["rmse"][0])


@pytest.mark.slow
def test_the_simulation_writes_learning_curves_for_every_policy_and_seed(mini_run, tmp_path):
    from conftest import snakemake

    workdir = shutil.copytree(mini_run, tmp_path / "run", symlinks=True)
    (workdir / "selection.yaml").write_text(
        "selection: {initial: 1, per_round: 1, warm_start: true, simulation: {enabled: true, seeds: 2}}\n")
    options = ["--configfile", "tests/configs/mini.yaml", "selection.yaml"]
    planned = snakemake(workdir, "-n", *options).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", planned, re.M))
    # the run itself is done: only the replay runs, round 0 once per seed
    assert counts == {"simulate_selection_start": "2", "simulate_selection": "12", "learning_curve": "1", "all": "1",
                      "total": "16"}
    snakemake(workdir, "--cores", "2", *options)
    results = workdir / "results" / "mini"
    table = pl.read_csv(results / "metrics" / "learning_curve.csv")
    curves = table.filter(kind="curve")
    assert curves.height == 6 * 2 * 2 * 3 and curves["rmse"].is_finite().all()
    assert sorted(set(curves["policy"])) == sorted(["random", "surprise", "uncertainty", "search", "diversity",
                                                    "oracle"])
    references = table.filter(kind="reference")
    assert sorted(set(references["policy"])) == ["MetaSFT-full", "UntrainedICL"] and references.height == 6
    summary_table = pl.read_csv(results / "metrics" / "learning_curve_summary.csv")
    assert summary_table.filter(policy="oracle")["sees_hidden_labels"].all()
    assert not summary_table.filter(policy="surprise")["sees_hidden_labels"].any()
    rounds = pl.read_csv(results / "selection" / "simulation" / "rounds.csv")
    assert rounds.filter("chosen").height == 6 * 2 * 2
    assert (results / "plots" / "learning_curve.png").stat().st_size > 10_000
    assert "Nothing to be done" in snakemake(workdir, "-n", *options).stdout
    # one more seed adds its own jobs and reruns no finished curve
    (workdir / "more_seeds.yaml").write_text("selection: {simulation: {seeds: 3}}\n")
    more = snakemake(workdir, "-n", *options, "more_seeds.yaml").stdout
    assert dict(re.findall(r"^(\w+)\s+(\d+)$", more, re.M)) == {
        "simulate_selection_start": "1", "simulate_selection": "6", "learning_curve": "1", "all": "1", "total": "9"}


def test_a_selection_the_meta_train_half_cannot_fill_stops_the_dry_run(workflow_copy):
    from conftest import snakemake

    (workflow_copy / "selection.yaml").write_text("selection: {initial: 3, simulation: {enabled: true}}\n")
    result = snakemake(workflow_copy, "-n", "--configfile", "tests/configs/mini.yaml", "selection.yaml", check=False)
    assert result.returncode != 0
    assert "invalid config: selection.initial = 3 and selection.budget = 2 must not exceed the 2 meta-train " \
           "domains of the run" in result.stdout + result.stderr


def test_live_chunks_grow_by_round_as_the_checkpoints_pick():
    from metasft.selection.live import Chunks

    asked = []

    def picks(round_index):
        asked.append(round_index)
        return {1: ["c", "d", "e"], 2: ["f"]}[round_index]

    chunks = Chunks({"part000": ["a", "b"]}, 2, 3, picks)
    assert chunks["part000"] == ["a", "b"] and asked == []  # a static chunk asks no checkpoint
    assert chunks["round1part001"] == ["e"] and asked == [1]
    assert dict(chunks) == {"part000": ["a", "b"], "round1part000": ["c", "d"], "round1part001": ["e"],
                            "round2part000": ["f"]}
    assert chunks.of("f") == "round2part000"
    for missing in ("round1part002", "round3part000", "part001"):
        with pytest.raises(KeyError):
            chunks[missing]
    assert re.fullmatch(chunks.pattern(), "round2part000") and not re.fullmatch(chunks.pattern(), "part001")
    assert Chunks({"x": ["x"]}, 1, 0, picks).pattern() == "x"  # no rounds: only the static names


def test_a_live_selection_refuses_what_it_cannot_serve():
    from metasft.pipeline.config import load_config
    from metasft.selection.live import live_selection_plan

    split = {f"t{i}": "meta_train" for i in range(6)} | {f"e{i}": "meta_eval" for i in range(6)}

    def config(**selection):
        return load_config([]) | {"selection": {**load_config([])["selection"], "enabled": True, "initial": 2,
                                                "per_round": 2, **selection}}

    counts, initial = live_selection_plan(config(), split, [])
    assert counts == [2, 4, 6] and len(initial) == 2 and set(initial) <= {f"t{i}" for i in range(6)}
    with pytest.raises(SelectionError, match="selection.policy 'oracle' reads golden labels no live run has"):
        live_selection_plan(config(policy="oracle"), split, [])
    with pytest.raises(SelectionError, match="needs inverse.enabled: false"):
        live_selection_plan(config(), split, ["UntrainedICL"])
    with pytest.raises(SelectionError, match="the replay needs a run that fine-tuned every meta-train domain"):
        live_selection_plan(config(simulation={"enabled": True}), split, [])
    with pytest.raises(SelectionError, match="replicates > 1 is not supported"):
        live_selection_plan({**config(), "replicates": 2}, split, [])


@pytest.mark.slow
def test_the_live_loop_picks_in_rounds_and_fine_tunes_what_it_picked(workflow_copy):
    from conftest import snakemake

    (workflow_copy / "live.yaml").write_text(
        "selection: {enabled: true, initial: 1, per_round: 1, warm_start: true}\ninverse: {enabled: false}\n")
    options = ["--configfile", "tests/configs/mini.yaml", "live.yaml"]
    planned = snakemake(workflow_copy, "-n", *options)
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", planned.stdout, re.M))
    # round 0 and its pick only: one fine-tune chunk (the initial domain's), no metrics yet
    assert counts["selection_round"] == "1" and counts["selection_round_meta_train"] == "1"
    assert "metrics" not in counts and "DAG of jobs will be updated after completion" in planned.stdout
    assert "each later round is planned when checkpoint selection_round of the round before has picked" in \
        planned.stdout + planned.stderr
    snakemake(workflow_copy, "--cores", "2", *options)
    results = workflow_copy / "results" / "mini"
    rounds = pl.read_csv(results / "selection" / "rounds.csv")
    (initial,), (picked,) = rounds.filter(round=0)["domain"], rounds.filter(round=1, chosen=True)["domain"]
    assert initial != picked and rounds.filter(round=1)["score"].is_finite().all()
    # the pick was fine-tuned in a job of its own round, and its rows were labelled and predicted
    assert (results / "finetune" / "round1part000" / picked / "adapter_config.json").is_file()
    golden = pl.read_parquet(results / "answers" / "golden" / "chunks" / "round1part000.parquet")
    assert set(golden["train_domain"]) == {picked}
    metrics = pl.read_csv(results / "metrics" / "metrics.csv").filter(method="MetaSFT")
    assert metrics["rmse"].is_finite().all() and set(metrics["quadrant"]) >= {"train_eval", "eval_train", "eval_eval"}
    assert "Nothing to be done" in snakemake(workflow_copy, "-n", *options).stdout
