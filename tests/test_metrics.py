import math

import numpy as np
import polars as pl
import pytest

from metasft.analysis.baselines import model_predictions, pooled_shuffle, split_half
from metasft.analysis.metrics import (
    generalization_summary,
    metric_with_ci,
    metrics_table,
)
from metasft.analysis.propensities import propensities
from metasft.analysis.statistics import (
    pearson,
    rmse,
    spearman,
    spearman_brown,
    weighted_spearman,
)
from metasft.judging.score import OptionParser, score_categorical
from metasft.suites.domains import Domain, Option, Suite


def test_rmse_pearson_spearman_by_hand():
    # errors 0, 0, 2 -> sqrt(4/3)
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    # x = (1,2,3), y = (1,2,5): centred (-1,0,1), (-5/3,-2/3,7/3): r = 4 / sqrt(2 * 26/3)
    assert pearson([1, 2, 3], [1, 2, 5]) == pytest.approx(4 / math.sqrt(2 * 26 / 3))
    assert spearman([1, 2, 3], [1, 2, 5]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_metric_with_ci_averages_permutations_and_brackets_the_estimate():
    y_ref = np.array([[10.0, 20, 30, 40, 50, 60], [10, 20, 30, 40, 50, 60]])
    y_hat = y_ref + np.array([[2.0, -2, 2, -2, 2, -2], [4, -4, 4, -4, 4, -4]])
    value, low, high = metric_with_ci(y_hat, y_ref, "rmse", 1.0, 200, 0.95, seed=1)
    assert value == pytest.approx(3.0)  # mean of 2 and 4
    assert low <= value <= high
    scaled, _, _ = metric_with_ci(y_hat, y_ref, "rmse", 1 / math.sqrt(2), 0, 0.95, seed=1)
    assert scaled == pytest.approx(3 / math.sqrt(2))
    again = metric_with_ci(y_hat, y_ref, "rmse", 1.0, 200, 0.95, seed=1)
    assert again == (value, low, high)  # seeded


def spread_data(n=40, permutations=3, seed=7):
    rng = np.random.default_rng(seed)
    y_ref = np.round(rng.uniform(0, 100, (permutations, n)) / 12.5) * 12.5  # discrete, with ties
    y_hat = np.round(np.clip(y_ref + rng.normal(0, 15, (permutations, n)), 0, 100) / 12.5) * 12.5
    return y_hat, y_ref


def by_hand_interval(y_hat, y_ref, statistic, n_resamples, seed, confidence=0.95):
    """The documented scheme: pair indices drawn with replacement from default_rng(seed), one resample per
    row; the statistic is averaged over permutations; the CI is the plain percentile interval."""
    n = y_hat.shape[1]
    draws = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    values = np.array([np.nanmean(statistic(y_hat[:, i], y_ref[:, i])) for i in draws])
    alpha = 100 * (1 - confidence) / 2
    return values, tuple(np.percentile(values, [alpha, 100 - alpha]))


@pytest.mark.parametrize("name, statistic", [("rmse", rmse), ("pearson_r", pearson), ("spearman_rho", spearman)])
def test_bootstrap_ci_equals_a_hand_computed_percentile_interval(name, statistic):
    y_hat, y_ref = spread_data()
    # 450 resamples span three batches of 200: the batches continue one random stream
    value, low, high = metric_with_ci(y_hat, y_ref, name, 1.0, 450, 0.95, seed=11)
    values, (want_low, want_high) = by_hand_interval(y_hat, y_ref, statistic, 450, seed=11)
    assert value == pytest.approx(np.mean(statistic(y_hat, y_ref)))
    assert (low, high) == pytest.approx((want_low, want_high))
    assert high - low > 0.05 * abs(value)  # data with spread: a real interval, not a point
    assert metric_with_ci(y_hat, y_ref, name, 1.0, 450, 0.95, seed=12)[1:] != (low, high)


def test_weighted_spearman_handles_ties_from_repeated_pairs():
    x = np.array([1.0, 2, 2, 3, 5, 5, 8])
    y = np.array([3.0, 1, 4, 4, 9, 2, 6])
    counts = np.array([[3.0, 0, 1, 1, 0, 2, 0], [0, 2, 2, 0, 1, 1, 1]])
    for row, weights in enumerate(counts):
        index = np.repeat(np.arange(len(x)), weights.astype(int))
        assert weighted_spearman(x, y, counts)[row] == pytest.approx(spearman(x[index], y[index]))


def test_spearman_brown_corrects_half_size_correlations():
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(0.0) == 0.0
    assert spearman_brown(1.0) == 1.0
    # no prophecy below zero: 2r / (1 + r) would give -2 here and -18 at r = -0.9, outside [-1, 1]
    assert spearman_brown(-0.5) == -0.5
    assert np.all(np.abs(spearman_brown(np.linspace(-1, 1, 41))) <= 1)


def golden_scores(samples: dict[tuple[str, str], list], samples_per_question: int = 1) -> pl.DataFrame:
    """Golden score rows: each pair's values in order, `samples_per_question` to a question; None is an answer
    that named no option (status unparseable)."""
    rows = []
    for (t, e), values in samples.items():
        for i, v in enumerate(values):
            rows.append({"train_domain": t, "eval_domain": e, "quadrant": "q",
                         "question_index": i // samples_per_question, "sample_index": i % samples_per_question,
                         "status": "ok" if v is not None else "unparseable", "score": v})
    return pl.DataFrame(rows, schema={"train_domain": pl.String, "eval_domain": pl.String, "quadrant": pl.String,
                                      "question_index": pl.Int32, "sample_index": pl.Int32, "status": pl.String,
                                      "score": pl.Float64})


def test_split_half_halves_each_pair():
    scores = golden_scores({("a", "x"): [100, 100, 0, 0], ("b", "x"): [100, 100, 100, 100], ("c", "x"): [0]})
    table = split_half(scores, permutations=5, seed=0)
    assert table.height == 15
    b = table.filter(pl.col("train_domain") == "b")
    assert (b["y_hat"] == 100).all() and (b["y_ref"] == 100).all()
    a = table.filter(pl.col("train_domain") == "a")
    # one sample per question: halves of two questions each, {100,100,0,0}: means 100/0, 50/50 or 0/100
    assert ((a["y_hat"] + a["y_ref"]) == 100).all()
    assert table.filter(pl.col("train_domain") == "c")["y_hat"].is_null().all()  # one sample: cannot split


def test_split_half_splits_within_each_question():
    # two questions of two samples: q0 always 100, q1 always 0. Within-question halves each hold one sample of
    # each question, so both means are 50 in every permutation; a split across questions would give 100/0 at times.
    scores = golden_scores({("a", "x"): [100, 100, 0, 0]}, samples_per_question=2)
    table = split_half(scores, permutations=20, seed=3)
    assert (table["y_hat"] == 50).all() and (table["y_ref"] == 50).all()
    # three samples a question: the odd ones out go to A and B alternately, so the halves hold 3 and 3 samples
    # (q0 100, q1 0): A has 1 or 2 of q0's and the complement of q1's; the means are 200/3 and 100/3 in some order
    odd = split_half(golden_scores({("a", "x"): [100, 100, 100, 0, 0, 0]}, samples_per_question=3), 40, seed=1)
    assert set(np.round(odd["y_hat"].to_numpy(), 6)) == {round(200 / 3, 6), round(100 / 3, 6)}
    assert (odd["y_hat"] + odd["y_ref"]).to_numpy() == pytest.approx(np.full(40, 100.0))
    # answers that named no option count as 0: (100, None) per question gives halves summing to 100 (left out,
    # both halves would be 100)
    unscored = split_half(golden_scores({("a", "x"): [100, None, 100, None]}, samples_per_question=2), 10, seed=0)
    assert ((unscored["y_hat"] + unscored["y_ref"]) == 100).all() and set(unscored["y_hat"]) == {0.0, 50.0, 100.0}


def test_pooled_shuffle_deals_only_other_pairs_samples():
    scores = golden_scores({("a", "x"): [100, 100], ("b", "x"): [0, 0, 0, 0], ("c", "x"): [50, 50],
                            ("a", "y"): [50, 50]})
    eval_only = pooled_shuffle(scores, "eval_domain", permutations=200, seed=0)
    assert eval_only.filter(pl.col("eval_domain") == "y")["y_hat"].is_null().all()  # a pool of one pair: no others
    x = eval_only.filter(pl.col("eval_domain") == "x")
    a = x.filter(pl.col("train_domain") == "a")["y_hat"].to_numpy()
    # a is dealt 2 of the other 6 samples (four 0s, two 50s), never its own 100s: 0, 25 or 50, mean 50 * 2/6
    assert set(a) <= {0.0, 25.0, 50.0} and len(set(a)) == 3
    assert a.mean() == pytest.approx(50 / 3, abs=2.5)
    # b wants 4 and the others hold 4 (two 100s, two 50s): always their mean; c gets 2 of a's and b's six
    assert (x.filter(pl.col("train_domain") == "b")["y_hat"] == 75).all()
    c = x.filter(pl.col("train_domain") == "c")["y_hat"].to_numpy()
    assert set(c) <= {0.0, 50.0, 100.0} and c.mean() == pytest.approx(100 / 3, abs=4)
    assert set(x.filter(pl.col("train_domain") == "a")["y_ref"]) == {100.0}
    train_only = pooled_shuffle(scores, "train_domain", permutations=2, seed=0)
    assert set(train_only["method"]) == {"GT-TrainOnly"}
    assert (train_only.filter((pl.col("train_domain") == "a") & (pl.col("eval_domain") == "x"))["y_hat"] == 50).all()
    assert (train_only.filter((pl.col("train_domain") == "a") & (pl.col("eval_domain") == "y"))["y_hat"] == 100).all()
    assert train_only.filter(pl.col("train_domain") == "b")["y_hat"].is_null().all()


def domain(designated="thai") -> Domain:
    return Domain("dinner", "Dinner", (("q", "a"),), ("e",),
                  (Option("thai", "Thai food", ("Thai",)), Option("greek", "Greek food", ("Greek", "souvlaki"))),
                  designated)


def test_option_parser():
    parser = OptionParser(domain())
    assert parser.parse("I'd go with THAI food.") == ("thai", "ok")
    assert parser.parse("Souvlaki, every time") == ("greek", "ok")
    assert parser.parse("Thailand") == (None, "unparseable")  # whole words only
    assert parser.parse("Thai or Greek") == (None, "ambiguous")


def test_scores_and_propensities_count_unscored_answers():
    suite = Suite("s", "categorical", {"dinner": domain()})
    answers = pl.DataFrame({"train_domain": ["t"] * 4, "eval_domain": ["dinner"] * 4, "quadrant": ["q"] * 4,
                            "question_index": [0, 1, 0, 1], "answer": ["Thai food", "Greek food", "pizza", "Thai!"]})
    scored = score_categorical(answers, suite)
    assert scored["score"].to_list() == [100.0, 0.0, None, 100.0]
    assert scored["status"].to_list() == ["ok", "ok", "unparseable", "ok"]
    row = propensities(scored).row(0, named=True)
    # the answer naming no option does not choose the designated option: 0 of the propensity's definition
    assert row["propensity"] == pytest.approx(200 / 4)
    assert (row["n_answers"], row["n_scored"], row["n_unscored"]) == (4, 3, 1)


def test_judged_propensities_leave_unscored_answers_out_with_a_sensitivity_column():
    scores = pl.DataFrame({"train_domain": ["t"] * 4, "eval_domain": ["e"] * 4, "quadrant": ["q"] * 4,
                           "coherence_status": ["ok"] * 4, "status": ["ok", "ok", "refusal", "unscored"],
                           "score": [80.0, 40.0, None, None]})
    row = propensities(scores).row(0, named=True)
    assert row["propensity"] == pytest.approx(60.0)  # the judge's refusal and failure are left out
    assert row["propensity_unscored_as_0"] == pytest.approx(30.0)
    assert (row["n_scored"], row["n_unscored"], row["n_refusal"]) == (2, 2, 1)


def test_metrics_table_columns_quadrants_and_dropped_pairs():
    pairs = pl.DataFrame({"train_domain": ["a", "a", "b", "b"], "eval_domain": ["a", "b", "a", "b"],
                          "quadrant": ["train_train", "train_eval", "eval_train", "eval_eval"]})
    golden = pl.DataFrame({"train_domain": ["a", "a", "b", "b"], "eval_domain": ["a", "b", "a", "b"],
                           "propensity": [10.0, 20.0, 30.0, 40.0]})
    predicted = golden.with_columns(propensity=pl.Series([12.0, 20.0, None, 37.0]))
    rates = {"MetaSFT": {"train_eval": {"unscored_rate": 0.25}}}
    table, comparisons = metrics_table(model_predictions("MetaSFT", predicted, golden), pairs, rates, 0, 0.95, 0)
    assert table.columns[:10] == ["method", "quadrant", "rmse", "rmse_lo", "rmse_hi", "pearson_r", "pearson_lo",
                                  "pearson_hi", "spearman_rho", "spearman_lo"]
    rows = {r["quadrant"]: r for r in table.iter_rows(named=True)}
    assert rows["train_train"]["rmse"] == pytest.approx(2.0)
    assert rows["eval_eval"]["rmse"] == pytest.approx(3.0)
    assert rows["eval_train"]["n_pairs"] == 0 and rows["eval_train"]["n_pairs_dropped"] == 1
    assert rows["train_eval"]["unscored_rate"] == 0.25
    assert comparisons.is_empty()  # MetaSFT alone: nothing to compare with


def quadrant_predictions(n=30, seed=3):
    """Two pairs sets' worth of methods in one quadrant: GT over 2 permutations, UntrainedICL and MetaSFT."""
    rng = np.random.default_rng(seed)
    domains = [f"t{i:02d}" for i in range(n)]  # sorted as the table sorts pairs
    golden = np.round(rng.uniform(0, 100, n) / 12.5) * 12.5
    half_a = np.clip(golden[None] + rng.normal(0, 12, (2, n)), 0, 100)
    half_b = np.clip(golden[None] + rng.normal(0, 12, (2, n)), 0, 100)
    icl = np.clip(golden + rng.normal(0, 20, n), 0, 100)
    meta = np.clip(golden + rng.normal(0, 10, n), 0, 100)
    frames = [pl.DataFrame({"method": "GT", "permutation": np.repeat([0, 1], n).astype(np.int32),
                            "train_domain": domains * 2, "eval_domain": ["e"] * 2 * n,
                            "y_hat": half_a.ravel(), "y_ref": half_b.ravel()})]
    for method, values in (("UntrainedICL", icl), ("MetaSFT", meta)):
        frames.append(pl.DataFrame({"method": method, "permutation": np.zeros(n, np.int32), "train_domain": domains,
                                    "eval_domain": ["e"] * n, "y_hat": values, "y_ref": golden}))
    pairs = pl.DataFrame({"train_domain": domains, "eval_domain": ["e"] * n, "quadrant": ["eval_eval"] * n})
    return pl.concat(frames), pairs, (half_a, half_b, icl, meta, golden)


def test_metrics_table_scales_gt_rmse_and_corrects_gt_correlations():
    predictions, pairs, (half_a, half_b, icl, _, golden) = quadrant_predictions()
    table, _ = metrics_table(predictions, pairs, {}, 0, 0.95, 0)
    gt = table.filter(pl.col("method") == "GT").row(0, named=True)
    assert gt["rmse"] == pytest.approx(np.mean(rmse(half_a, half_b)) / math.sqrt(2))
    raw_r = pearson(half_a, half_b)
    assert gt["pearson_r"] == pytest.approx(np.mean(2 * raw_r / (1 + raw_r)))
    assert gt["pearson_r"] > np.mean(raw_r)
    raw_rho = spearman(half_a, half_b)
    assert gt["spearman_rho"] == pytest.approx(np.mean(2 * raw_rho / (1 + raw_rho)))
    icl_row = table.filter(pl.col("method") == "UntrainedICL").row(0, named=True)
    assert icl_row["rmse"] == pytest.approx(float(rmse(icl, golden)))  # no scaling for the models
    assert icl_row["pearson_r"] == pytest.approx(float(pearson(icl, golden)))


def test_paired_comparison_uses_the_same_resamples_for_both_methods():
    predictions, pairs, (_, _, icl, meta, golden) = quadrant_predictions()
    table, comparisons = metrics_table(predictions, pairs, {}, 300, 0.95, seed=5, resample="pairs")
    row = comparisons.filter(pl.col("baseline") == "UntrainedICL").row(0, named=True)
    assert row["rmse_diff"] == pytest.approx(float(rmse(meta, golden) - rmse(icl, golden)))
    # by hand (resample="pairs"): the quadrant's resamples, both methods on the same pair indices
    from metasft.pipeline.seeds import derived_seed
    n = len(golden)
    draws = np.random.default_rng(derived_seed(5, "bootstrap", "eval_eval")).integers(0, n, size=(300, n))
    diffs = np.array([rmse(meta[i], golden[i]) - rmse(icl[i], golden[i]) for i in draws])
    assert (row["diff_lo"], row["diff_hi"]) == pytest.approx(tuple(np.percentile(diffs, [2.5, 97.5])))
    assert row["share_method_better"] == pytest.approx(np.mean(diffs < 0))
    assert row["ci_excludes_zero"] == (row["diff_hi"] < 0 or row["diff_lo"] > 0)
    # the paired CI is narrower than the two marginal CIs side by side
    marginal = {r["method"]: r for r in table.iter_rows(named=True)}
    assert row["diff_hi"] - row["diff_lo"] < (marginal["MetaSFT"]["rmse_hi"] - marginal["MetaSFT"]["rmse_lo"]
                                              + marginal["UntrainedICL"]["rmse_hi"]
                                              - marginal["UntrainedICL"]["rmse_lo"])
    assert set(comparisons["baseline"]) == {"GT", "UntrainedICL"}


def test_nl_methods_are_compared_with_their_own_baselines_on_the_same_resamples():
    predictions, pairs, (_, _, icl, meta, golden) = quadrant_predictions()
    rng = np.random.default_rng(11)
    nl = {"UntrainedNL": np.clip(golden + rng.normal(0, 25, len(golden)), 0, 100),
          "MetaSFT-to-NL": np.clip(golden + rng.normal(0, 15, len(golden)), 0, 100),
          "MetaSFT-NL": np.clip(golden + rng.normal(0, 8, len(golden)), 0, 100)}
    predictions = pl.concat([predictions, *(
        pl.DataFrame({"method": m, "permutation": np.zeros(len(golden), np.int32),
                      "train_domain": pairs["train_domain"], "eval_domain": pairs["eval_domain"], "y_hat": v,
                      "y_ref": golden}) for m, v in nl.items())])
    table, comparisons = metrics_table(predictions, pairs, {}, 200, 0.95, seed=5, resample="pairs")
    assert table["method"].to_list() == ["GT", "UntrainedICL", "MetaSFT", "UntrainedNL", "MetaSFT-to-NL", "MetaSFT-NL"]
    values = {**nl, "UntrainedICL": icl, "MetaSFT": meta}
    pairs_compared = set(comparisons.select("method", "baseline").iter_rows())
    assert pairs_compared == {("MetaSFT", b) for b in ("GT", "UntrainedICL", *nl)} | {
        ("MetaSFT-to-NL", "UntrainedNL"), ("MetaSFT-NL", "UntrainedNL"), ("MetaSFT-NL", "MetaSFT-to-NL"),
        ("UntrainedNL", "UntrainedICL")}
    from metasft.pipeline.seeds import derived_seed
    n = len(golden)
    draws = np.random.default_rng(derived_seed(5, "bootstrap", "eval_eval")).integers(0, n, size=(200, n))
    for row in comparisons.filter(pl.col("method") != "MetaSFT").iter_rows(named=True):
        method, baseline = values[row["method"]], values[row["baseline"]]
        assert row["rmse_diff"] == pytest.approx(float(rmse(method, golden) - rmse(baseline, golden)))
        diffs = np.array([rmse(method[i], golden[i]) - rmse(baseline[i], golden[i]) for i in draws])
        assert (row["diff_lo"], row["diff_hi"]) == pytest.approx(tuple(np.percentile(diffs, [2.5, 97.5])))
    better = comparisons.filter((pl.col("method") == "MetaSFT-NL") & (pl.col("baseline") == "UntrainedNL")).row(
        0, named=True)
    assert better["rmse_diff"] < 0 and better["ci_excludes_zero"]  # sd 8 against sd 25 on 30 pairs


def test_a_pair_missing_for_one_method_is_dropped_for_all():
    predictions, pairs, (half_a, half_b, icl, meta, golden) = quadrant_predictions()
    predictions = predictions.with_columns(
        y_hat=pl.when((pl.col("method") == "MetaSFT") & (pl.col("train_domain") == "t04")).then(None)
        .otherwise(pl.col("y_hat")))
    table, comparisons = metrics_table(predictions, pairs, {}, 0, 0.95, 0)
    keep = np.arange(len(golden)) != 4
    rows = {r["method"]: r for r in table.iter_rows(named=True)}
    assert {r["n_pairs"] for r in rows.values()} == {len(golden) - 1}
    assert {r["n_pairs_dropped"] for r in rows.values()} == {1}
    assert rows["MetaSFT"]["n_pairs_missing"] == 1 and rows["UntrainedICL"]["n_pairs_missing"] == 0
    assert rows["UntrainedICL"]["rmse"] == pytest.approx(float(rmse(icl[keep], golden[keep])))
    assert rows["GT"]["rmse"] == pytest.approx(np.mean(rmse(half_a[:, keep], half_b[:, keep])) / math.sqrt(2))
    assert comparisons["n_pairs"].to_list() == [len(golden) - 1] * 2


def test_generalization_summary_reports_each_predictors_persona_effect():
    pairs = pl.DataFrame({"train_domain": ["a", "a", "b", "b", "c", "c"], "eval_domain": ["b", "c", "a", "c", "a", "b"],
                          "same_persona": [True, False, True, False, False, False]})
    golden = pairs.select("train_domain", "eval_domain").with_columns(
        propensity=pl.Series([80.0, 20.0, 60.0, 10.0, 30.0, 0.0]))
    icl = golden.with_columns(propensity=pl.Series([40.0, 20.0, 40.0, 20.0, 20.0, 20.0]))
    summary = generalization_summary(golden, pairs, {"UntrainedICL": icl})
    assert summary["same_minus_other"] == pytest.approx(70 - 15)
    assert summary["predicted"]["UntrainedICL"]["same_minus_other"] == pytest.approx(40 - 20)


def _scores(quadrant_scores: dict[str, list]) -> pl.DataFrame:
    rows = [{"train_domain": "a", "eval_domain": "b", "quadrant": q, "answer": f"answer {q} {i} " + "x" * 100,
             "status": "ok" if s is not None else "unparseable", "score": s}
            for q, scores in quadrant_scores.items() for i, s in enumerate(scores)]
    return pl.DataFrame(rows, schema_overrides={"score": pl.Float64})


def test_unscored_gate_names_method_quadrant_rate_key_and_examples():
    from metasft.analysis.propensities import UnscoredError, check_unscored

    scores = {"golden": _scores({"train_train": [100.0, 0.0, None, 100.0], "eval_eval": [0.0, 100.0]}),
              "MetaSFT": _scores({"train_train": [100.0, 0.0], "eval_eval": [None, None, None, 100.0]})}
    check_unscored(scores, 0.75)  # 75% is not above 75%
    with pytest.raises(UnscoredError) as error:
        check_unscored(scores, 0.5)
    message = str(error.value)
    assert "MetaSFT in eval_eval: 75.0% of 4 answers unscored" in message
    assert "metrics.max_unscored_rate = 0.5" in message and "unparseable 3" in message
    assert "golden" not in message  # golden's 25% in train_train is under the threshold
    assert message.count("answer eval_eval") == 3 and "..." in message  # three examples, truncated
    assert len(message) < 1000
    with pytest.raises(UnscoredError, match="golden in train_train: 25.0%"):
        check_unscored(scores, 0.2)


def test_unscored_gate_stops_metrics_before_any_output(tmp_path):
    """An all-unscored run fails the metrics job and leaves no metrics.csv (it used to exit 0 with NaNs)."""
    from metasft.analysis.metrics import metrics
    from metasft.analysis.propensities import UnscoredError
    from metasft.suites.domains import split_domains
    from metasft.suites.snapshot import write_snapshot

    options = (Option("x", "xylophone", (), "p"), Option("y", "yodel", (), "q"))
    domains = {d: Domain(d, d, (("Which?", "xylophone"),), ("What?",), options, "x") for d in ("a", "b", "c", "d")}
    suite = Suite("s", "categorical", domains, ("p", "q"))
    split = split_domains(list(domains), 0)
    write_snapshot(suite, split, 1, tmp_path / "suite.json")
    from metasft.suites.domains import quadrant
    rows = [{"train_domain": t, "eval_domain": e, "quadrant": quadrant(split, t, e), "answer": "mumble",
             "status": "unparseable", "score": None} for t in domains for e in domains]
    paths = {}
    for source in ("golden", "UntrainedICL", "MetaSFT"):
        paths[source] = [str(tmp_path / f"{source}.parquet")]
        pl.DataFrame(rows, schema_overrides={"score": pl.Float64}).write_parquet(paths[source][0])
    outputs = {f"{k}_path": str(tmp_path / f"{k}.out") for k in
               ("metrics", "generalization", "propensities", "predictions", "comparisons")}
    with pytest.raises(UnscoredError, match="golden in eval_eval: 100.0% of 4 answers"):
        metrics(str(tmp_path / "suite.json"), str(tmp_path / "missing.parquet"), paths, **outputs,
                bootstrap_resamples=10, confidence=0.95, seed=0, max_unscored_rate=0.5)
    assert not any(tmp_path.glob("*.out"))


def test_per_train_spearman_averages_each_train_domains_rank_agreement_by_hand():
    """Three train domains x four eval domains: rho 0.8 (two neighbours swapped), -1 (reversed), and a train domain
    whose golden propensities are all equal (no rho: left out for every method and counted)."""
    train = ["t1"] * 4 + ["t2"] * 4 + ["t3"] * 4
    evals = ["e1", "e2", "e3", "e4"] * 3
    golden = [1.0, 2.0, 3.0, 4.0, 4.0, 3.0, 2.0, 1.0, 5.0, 5.0, 5.0, 5.0]
    meta = [10.0, 20.0, 40.0, 30.0, 1.0, 2.0, 3.0, 4.0, 9.0, 8.0, 7.0, 6.0]
    icl = [4.0, 3.0, 2.0, 1.0, 40.0, 30.0, 20.0, 10.0, 1.0, 2.0, 3.0, 4.0]  # rho -1 then +1
    frames = [pl.DataFrame({"method": m, "permutation": np.zeros(12, np.int32), "train_domain": train,
                            "eval_domain": evals, "y_hat": values, "y_ref": golden})
              for m, values in (("UntrainedICL", icl), ("MetaSFT", meta))]
    pairs = pl.DataFrame({"train_domain": train, "eval_domain": evals, "quadrant": ["eval_eval"] * 12})
    table, _ = metrics_table(pl.concat(frames), pairs, {}, 400, 0.95, seed=7, resample="pairs")
    rows = {r["method"]: r for r in table.iter_rows(named=True)}
    assert rows["MetaSFT"]["per_train_spearman"] == pytest.approx((0.8 - 1.0) / 2)
    assert rows["UntrainedICL"]["per_train_spearman"] == pytest.approx(0.0)
    assert rows["MetaSFT"]["per_train_domains"] == rows["UntrainedICL"]["per_train_domains"] == 2
    # resample="pairs" (the earlier scheme): the CI resamples train domains, the same draws for both methods
    from metasft.pipeline.seeds import derived_seed
    draws = np.random.default_rng(derived_seed(7, "per_train", "eval_eval")).integers(0, 2, size=(400, 2))
    means = np.array([0.8, -1.0])[draws].mean(axis=1)
    assert (rows["MetaSFT"]["per_train_lo"], rows["MetaSFT"]["per_train_hi"]) == \
        pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))
    assert rows["MetaSFT"]["per_train_lo"] < rows["MetaSFT"]["per_train_spearman"] < rows["MetaSFT"]["per_train_hi"]


def test_per_train_spearman_of_gt_corrects_each_half_size_rho():
    from metasft.analysis.statistics import per_group_spearman

    half_a = np.array([[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0], [2.0, 1.0, 3.0, 4.0, 3.0, 2.0, 1.0]])
    half_b = np.array([[1.0, 2.0, 4.0, 3.0, 1.0, 3.0, 2.0], [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0]])
    groups = np.array([0, 0, 0, 0, 1, 1, 1])
    raw = per_group_spearman(half_a, half_b, groups, 2)
    rho_0 = spearman(half_a[:, :4], half_b[:, :4])  # (0.8, 0.8)
    rho_1 = spearman(half_a[:, 4:], half_b[:, 4:])  # (0.5, -1)
    assert raw == pytest.approx([np.mean(rho_0), np.mean(rho_1)])
    corrected = per_group_spearman(half_a, half_b, groups, 2, half_size=True)
    assert corrected == pytest.approx([np.mean(spearman_brown(rho_0)), np.mean(spearman_brown(rho_1))])
    assert np.isnan(per_group_spearman(half_a[:, :2], half_b[:, :2], groups[:2], 1))[0]  # under 3 eval domains
