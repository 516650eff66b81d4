import math

import numpy as np
import polars as pl
import pytest

from metasft.baselines import model_predictions, pooled_shuffle, split_half
from metasft.metrics import metric_with_ci, metrics_table, pearson, rmse, spearman
from metasft.scoring import OptionParser, propensities, score_categorical
from metasft.suite import Domain, Option, Suite


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


def golden_scores(samples: dict[tuple[str, str], list[float | None]]) -> pl.DataFrame:
    rows = []
    for (t, e), values in samples.items():
        for i, v in enumerate(values):
            rows.append({"train_domain": t, "eval_domain": e, "quadrant": "q", "question_index": i,
                         "sample_index": 0, "score": v})
    return pl.DataFrame(rows, schema={"train_domain": pl.String, "eval_domain": pl.String, "quadrant": pl.String,
                                      "question_index": pl.Int32, "sample_index": pl.Int32, "score": pl.Float64})


def test_split_half_halves_each_pair():
    scores = golden_scores({("a", "x"): [100, 100, 0, 0], ("b", "x"): [100, 100, 100, 100], ("c", "x"): [0]})
    table = split_half(scores, permutations=5, seed=0)
    assert table.height == 15
    b = table.filter(pl.col("train_domain") == "b")
    assert (b["y_hat"] == 100).all() and (b["y_ref"] == 100).all()
    a = table.filter(pl.col("train_domain") == "a")
    # halves of {100,100,0,0}: means are 100/0, 50/50 or 0/100, and always sum to 100
    assert ((a["y_hat"] + a["y_ref"]) == 100).all()
    assert table.filter(pl.col("train_domain") == "c")["y_hat"].is_null().all()  # one sample: cannot split


def test_pooled_shuffle_keeps_the_marginal_and_sizes():
    scores = golden_scores({("a", "x"): [100, 100], ("b", "x"): [0, 0, 0, 0], ("a", "y"): [50, 50]})
    eval_only = pooled_shuffle(scores, "eval_domain", permutations=4, seed=0)
    y = eval_only.filter(pl.col("eval_domain") == "y")
    assert (y["y_hat"] == 50).all()  # a pool of one pair deals its own samples back
    x = eval_only.filter(pl.col("eval_domain") == "x").sort("permutation", "train_domain")
    for r in range(4):
        part = x.filter(pl.col("permutation") == r)
        a_mean, b_mean = part["y_hat"].to_list()
        assert a_mean * 2 + b_mean * 4 == pytest.approx(200)  # the pool's total is preserved
    assert set(x.filter(pl.col("train_domain") == "a")["y_ref"]) == {100.0}
    train_only = pooled_shuffle(scores, "train_domain", permutations=2, seed=0)
    assert set(train_only["method"]) == {"GT-TrainOnly"}
    assert (train_only.filter(pl.col("train_domain") == "b")["y_hat"] == 0).all()


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
                            "answer": ["Thai food", "Greek food", "pizza", "Thai!"]})
    scored = score_categorical(answers, suite)
    assert scored["score"].to_list() == [100.0, 0.0, None, 100.0]
    assert scored["status"].to_list() == ["ok", "ok", "unparseable", "ok"]
    row = propensities(scored).row(0, named=True)
    assert row["propensity"] == pytest.approx(200 / 3)
    assert (row["n_answers"], row["n_scored"], row["n_unscored"]) == (4, 3, 1)


def test_metrics_table_columns_quadrants_and_dropped_pairs():
    pairs = pl.DataFrame({"train_domain": ["a", "a", "b", "b"], "eval_domain": ["a", "b", "a", "b"],
                          "quadrant": ["train_train", "train_eval", "eval_train", "eval_eval"]})
    golden = pl.DataFrame({"train_domain": ["a", "a", "b", "b"], "eval_domain": ["a", "b", "a", "b"],
                           "propensity": [10.0, 20.0, 30.0, 40.0]})
    predicted = golden.with_columns(propensity=pl.Series([12.0, 20.0, None, 37.0]))
    rates = {"MetaSFT": {"train_eval": {"unscored_rate": 0.25}}}
    table = metrics_table(model_predictions("MetaSFT", predicted, golden), pairs, rates, 0, 0.95, 0)
    assert table.columns[:10] == ["method", "quadrant", "rmse", "rmse_lo", "rmse_hi", "pearson_r", "pearson_lo",
                                  "pearson_hi", "spearman_rho", "n_pairs"][:9] + ["spearman_lo"]
    rows = {r["quadrant"]: r for r in table.iter_rows(named=True)}
    assert rows["train_train"]["rmse"] == pytest.approx(2.0)
    assert rows["eval_eval"]["rmse"] == pytest.approx(3.0)
    assert rows["eval_train"]["n_pairs"] == 0 and rows["eval_train"]["n_pairs_dropped"] == 1
    assert rows["train_eval"]["unscored_rate"] == 0.25
