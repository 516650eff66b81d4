"""The domain-level bootstrap of a crossed design (metasft.analysis.resampling), the primary comparison's family
correction (metasft.analysis.comparisons), and their use in metrics.csv, comparisons.csv and inverse.csv."""
import math
import warnings

import numpy as np
import polars as pl
import pytest
from scipy import stats

from metasft.analysis.comparisons import PRIMARY, Primary, bootstrap_p_value, holm
from metasft.analysis.inverse import inverse_table
from metasft.analysis.metrics import metrics_table
from metasft.analysis.resampling import PairDesign, resample_weights, resampled_means
from metasft.analysis.statistics import percentile_interval, resampled_statistics
from metasft.pipeline.seeds import derived_seed


def hand_domain_draws(seed, n_train, n_eval, n_resamples, same_set, batch=200):
    """The documented scheme: per batch of resamples, T domains drawn with replacement (indices into the sorted
    names), then for a cross quadrant the E domains, from one default_rng(seed) stream; the same-half quadrants use
    one draw for both sides."""
    rng = np.random.default_rng(seed)
    train, evals = [], []
    for start in range(0, n_resamples, batch):
        size = min(batch, n_resamples - start)
        train.append(rng.integers(0, n_train, size=(size, n_train)))
        evals.append(train[-1] if same_set else rng.integers(0, n_eval, size=(size, n_eval)))
    return np.concatenate(train), np.concatenate(evals)


def expanded(train_draw, eval_draw, pair_of, same_set=False):
    """The resample as a list of pairs: every drawn copy of T with every drawn copy of E (Owen's two-way
    bootstrap), where the pair exists. Same-half quadrants (one draw): two different copies of one domain make no
    pair, a copy with itself makes the diagonal pair."""
    return [pair_of[t, e] for a, t in enumerate(train_draw) for b, e in enumerate(eval_draw)
            if (t, e) in pair_of and not (same_set and t == e and a != b)]


def test_cross_quadrant_weights_are_the_product_of_independent_domain_counts():
    trains, evals = ["b", "a", "c"], ["y", "x", "z", "w"]
    train_domains = [t for t in trains for _ in evals]
    eval_domains = [e for _ in trains for e in evals]
    design = PairDesign.of(train_domains, eval_domains, same_set=False)
    assert design.train_names == ("a", "b", "c") and design.eval_names == ("w", "x", "y", "z")
    weights = np.concatenate(list(resample_weights(design, "domains", 7, seed=4, batch=3)))
    train_draw, eval_draw = hand_domain_draws(4, 3, 4, 7, same_set=False, batch=3)
    pair_of = {(design.train_index[i], design.eval_index[i]): i for i in range(12)}
    for r in range(7):
        want = np.bincount(expanded(train_draw[r], eval_draw[r], pair_of), minlength=12)
        assert weights[r] == pytest.approx(want)
    assert weights.sum(axis=1) == pytest.approx(np.full(7, 12.0))  # 3 T copies x 4 E copies
    assert len({tuple(w) for w in weights}) > 1


def test_same_half_quadrant_uses_one_draw_for_both_sides():
    domains = ["a", "b", "c", "d"]
    design = PairDesign.of_quadrant("eval_eval", [t for t in domains for _ in domains],
                                    [e for _ in domains for e in domains])
    assert design.same_set
    weights = np.concatenate(list(resample_weights(design, "domains", 5, seed=9)))
    draw, _ = hand_domain_draws(9, 4, 4, 5, same_set=True)
    pair_of = {(design.train_index[i], design.eval_index[i]): i for i in range(16)}
    for r in range(5):
        counts = np.bincount(draw[r], minlength=4)
        want = np.outer(counts, counts).astype(float)
        np.fill_diagonal(want, counts * 3 / 4)  # a copy with itself, at (n - 1) / n; two copies make no pair
        assert weights[r] == pytest.approx(want.ravel())
        hand = np.bincount(expanded(draw[r], draw[r], pair_of, same_set=True), minlength=16).astype(float)
        hand[[0, 5, 10, 15]] *= 3 / 4
        assert weights[r] == pytest.approx(hand)
    assert (weights.sum(axis=1) < 16).any()  # a domain drawn twice loses its copies' cross pairs
    # pairs mode is the earlier i.i.d. pair bootstrap: every weight row sums to the number of pairs
    pair_weights = np.concatenate(list(resample_weights(design, "pairs", 5, seed=9)))
    assert pair_weights.sum(axis=1) == pytest.approx(np.full(5, 16.0))
    with pytest.raises(ValueError, match="metrics.resample"):
        next(resample_weights(design, "rows", 5, seed=9))


def crossed_world(n_train=6, n_eval=5, seed=2):
    """Predictions of two methods on a train_eval quadrant whose errors have train, eval and residual parts."""
    rng = np.random.default_rng(seed)
    trains, evals = [f"t{i}" for i in range(n_train)], [f"e{j}" for j in range(n_eval)]
    train_domains = [t for t in trains for _ in evals]
    eval_domains = [e for _ in trains for e in evals]
    golden = np.round(rng.uniform(0, 100, len(train_domains)) / 12.5) * 12.5
    row, column = rng.normal(0, 10, n_train), rng.normal(0, 8, n_eval)
    t_index = np.repeat(np.arange(n_train), n_eval)
    e_index = np.tile(np.arange(n_eval), n_train)
    icl = golden + row[t_index] + column[e_index] + rng.normal(0, 6, len(golden))
    meta = golden + 0.5 * row[t_index] + column[e_index] + rng.normal(0, 6, len(golden))
    frames = [pl.DataFrame({"method": m, "permutation": np.zeros(len(golden), np.int32), "train_domain": train_domains,
                            "eval_domain": eval_domains, "y_hat": v, "y_ref": golden})
              for m, v in (("UntrainedICL", icl), ("MetaSFT", meta))]
    pairs = pl.DataFrame({"train_domain": train_domains, "eval_domain": eval_domains,
                          "quadrant": ["train_eval"] * len(golden)})
    return pl.concat(frames), pairs, (t_index, e_index, icl, meta, golden)


def test_metrics_and_paired_comparison_resample_domains_by_hand():
    predictions, pairs, (t_index, e_index, icl, meta, golden) = crossed_world()
    table, comparisons = metrics_table(predictions, pairs, {}, 250, 0.95, seed=3)
    train_draw, eval_draw = hand_domain_draws(derived_seed(3, "bootstrap", "train_eval"), 6, 5, 250, same_set=False)
    pair_of = {(t, e): i for i, (t, e) in enumerate(zip(t_index, e_index))}
    resamples = [expanded(train_draw[r], eval_draw[r], pair_of) for r in range(250)]
    rmse_of = {name: np.array([np.sqrt(np.mean((v[i] - golden[i]) ** 2)) for i in resamples])
               for name, v in (("UntrainedICL", icl), ("MetaSFT", meta))}
    rows = {r["method"]: r for r in table.iter_rows(named=True)}
    for method, values in rmse_of.items():
        assert (rows[method]["rmse_lo"], rows[method]["rmse_hi"]) == pytest.approx(
            tuple(np.percentile(values, [2.5, 97.5])))
        assert rows[method]["resample"] == "domains"
    diff = rmse_of["MetaSFT"] - rmse_of["UntrainedICL"]
    row = comparisons.row(0, named=True)
    assert (row["method"], row["baseline"], row["family"], row["resample"]) == (
        "MetaSFT", "UntrainedICL", "primary", "domains")
    assert (row["diff_lo"], row["diff_hi"]) == pytest.approx(tuple(np.percentile(diff, [2.5, 97.5])))
    tail = min((diff >= 0).sum(), (diff <= 0).sum())
    assert row["p_value"] == pytest.approx(min(1.0, 2 * (tail + 1) / 251))
    # one family cell here: Holm changes nothing and the simultaneous interval is the nominal one
    assert row["p_holm"] == pytest.approx(row["p_value"])
    assert (row["diff_lo_simultaneous"], row["diff_hi_simultaneous"]) == pytest.approx((row["diff_lo"], row["diff_hi"]))
    # the domain interval is wider than the pair bootstrap's on a world with row and column effects
    by_pairs, _ = metrics_table(predictions, pairs, {}, 250, 0.95, seed=3, resample="pairs")
    pair_rows = {r["method"]: r for r in by_pairs.iter_rows(named=True)}
    assert rows["UntrainedICL"]["rmse_hi"] - rows["UntrainedICL"]["rmse_lo"] > 1.3 * (
        pair_rows["UntrainedICL"]["rmse_hi"] - pair_rows["UntrainedICL"]["rmse_lo"])
    assert set(by_pairs["resample"]) == {"pairs"}


def test_per_train_spearman_resamples_train_and_eval_domains_by_hand():
    predictions, pairs, (t_index, e_index, icl, meta, golden) = crossed_world(n_train=5, n_eval=6, seed=8)
    table, _ = metrics_table(predictions, pairs, {}, 120, 0.95, seed=6)
    # all resamples in one batch
    train_draw, eval_draw = hand_domain_draws(derived_seed(6, "per_train", "train_eval"), 5, 6, 120, same_set=False,
                                              batch=120)
    rows = {r["method"]: r for r in table.iter_rows(named=True)}
    for method, values in (("UntrainedICL", icl), ("MetaSFT", meta)):
        point = np.mean([stats.spearmanr(values[t_index == t], golden[t_index == t])[0] for t in range(5)])
        assert rows[method]["per_train_spearman"] == pytest.approx(point)
    means = {"UntrainedICL": [], "MetaSFT": []}
    for r in range(120):
        per_t = {}
        for method, values in (("UntrainedICL", icl), ("MetaSFT", meta)):
            # each drawn copy of T: Spearman across the drawn copies of E (repeats are tied copies)
            with warnings.catch_warnings():  # a drawn E set with constant values has no rho (nan, left out)
                warnings.simplefilter("ignore", stats.ConstantInputWarning)
                per_t[method] = {t: stats.spearmanr(values[t * 6 + eval_draw[r]], golden[t * 6 + eval_draw[r]])[0]
                                 for t in set(train_draw[r])}
        defined = [t for t in train_draw[r] if all(np.isfinite(per_t[m][t]) for m in per_t)]
        for method in means:
            means[method].append(np.mean([per_t[method][t] for t in defined]) if defined else np.nan)
    for method, values in means.items():
        assert (rows[method]["per_train_lo"], rows[method]["per_train_hi"]) == pytest.approx(
            percentile_interval(np.array(values), 0.95))
        assert rows[method]["per_train_lo"] < rows[method]["per_train_hi"]


def test_inverse_ci_resamples_domains_by_hand():
    rng = np.random.default_rng(1)
    domains = ["a", "b", "c", "d", "e"]
    rows = []
    for t in domains:
        for e in domains:
            rows.append({"method": "UntrainedICL", "train_domain": t, "eval_domain": e, "quadrant": "eval_eval",
                         "n_candidates": 5, "n_answers": 4, "top1": float(rng.random() < 0.4),
                         "top5": 1.0, "reciprocal_rank": float(rng.uniform(0.2, 1)), "rank": 1.0})
    ranks = pl.DataFrame(rows)
    table = inverse_table(ranks, n_resamples=150, confidence=0.9, seed=2)
    draw, _ = hand_domain_draws(derived_seed(2, "inverse", "eval_eval"), 5, 5, 150, same_set=True)
    top1 = ranks["top1"].to_numpy().reshape(5, 5)
    pair_of = {(t, e): 5 * t + e for t in range(5) for e in range(5)}
    values = []
    for r in range(150):
        drawn = expanded(draw[r], draw[r], pair_of, same_set=True)
        weight = np.array([4 / 5 if i % 6 == 0 else 1.0 for i in drawn])  # diagonal pairs at (n - 1) / n
        values.append(np.sum(top1.ravel()[drawn] * weight) / weight.sum())
    row = table.row(0, named=True)
    assert (row["top1_lo"], row["top1_hi"]) == pytest.approx(tuple(np.percentile(values, [5, 95])))
    assert row["resample"] == "domains" and row["in_sample"] is False
    assert resampled_means(top1.ravel(), PairDesign.of_quadrant("eval_eval", ranks["train_domain"],
                                                                ranks["eval_domain"]), "domains", 150,
                           derived_seed(2, "inverse", "eval_eval")) == pytest.approx(np.array([values]))


def test_the_in_sample_inverse_row_is_flagged():
    rows = [{"method": m, "train_domain": t, "eval_domain": e, "quadrant": q, "n_candidates": 2, "n_answers": 4,
             "top1": 1.0, "top5": 1.0, "reciprocal_rank": 1.0, "rank": 1.0}
            for m in ("UntrainedICL", "MetaSFT") for t, e, q in (("a", "a", "train_train"), ("a", "b", "train_train"),
                                                                 ("c", "a", "eval_train"), ("c", "b", "eval_train"))]
    table = inverse_table(pl.DataFrame(rows), n_resamples=0, confidence=0.95, seed=0)
    flagged = {(r["method"], r["quadrant"]) for r in table.iter_rows(named=True) if r["in_sample"]}
    assert flagged == {("MetaSFT", "train_train")}


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 (m = 3): 0.03, max(0.03, 0.04), max(0.04, 0.04)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    # step-down keeps adjusted values monotone and caps at 1
    assert holm([0.5, 0.001, 0.3, 0.6]) == pytest.approx([1.0, 0.004, 0.9, 1.0])
    adjusted = holm([0.2, math.nan, 0.01])
    assert adjusted[0] == pytest.approx(0.2) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)


def test_bootstrap_p_value_by_hand():
    assert bootstrap_p_value(np.array([-3.0, -2, -1, 1])) == pytest.approx(2 * 2 / 5)  # 1 of 4 at or above 0
    assert bootstrap_p_value(np.array([-3.0, -2, -1, -0.5])) == pytest.approx(2 / 5)  # none: (0 + 1) / (B + 1)
    assert math.isnan(bootstrap_p_value(np.array([np.nan, np.nan, 1.0])))


def three_quadrant_predictions(seed=5, n=8):
    """MetaSFT clearly better than UntrainedICL in train_eval, about equal elsewhere."""
    rng = np.random.default_rng(seed)
    halves = {"meta_train": [f"a{i}" for i in range(n)], "meta_eval": [f"b{i}" for i in range(n)]}
    frames, pair_rows = [], []
    for quadrant, (th, eh) in {"train_eval": ("meta_train", "meta_eval"), "eval_train": ("meta_eval", "meta_train"),
                               "eval_eval": ("meta_eval", "meta_eval")}.items():
        train = [t for t in halves[th] for _ in halves[eh]]
        evals = [e for _ in halves[th] for e in halves[eh]]
        golden = rng.uniform(0, 100, len(train))
        icl = golden + rng.normal(0, 15, len(train))
        meta = golden + rng.normal(0, 4 if quadrant == "train_eval" else 15, len(train))
        for method, values in (("UntrainedICL", icl), ("MetaSFT", meta)):
            frames.append(pl.DataFrame({"method": method, "permutation": np.zeros(len(train), np.int32),
                                        "train_domain": train, "eval_domain": evals, "y_hat": values,
                                        "y_ref": golden}))
        pair_rows.append(pl.DataFrame({"train_domain": train, "eval_domain": evals, "quadrant": quadrant}))
    return pl.concat(frames), pl.concat(pair_rows)


def test_primary_family_is_holm_adjusted_and_listed_first():
    predictions, pairs = three_quadrant_predictions()
    _, comparisons = metrics_table(predictions, pairs, {}, 400, 0.95, seed=1)
    primary = comparisons.filter(pl.col("family") == "primary")
    assert comparisons["family"].to_list()[:3] == ["primary"] * 3
    assert set(primary["quadrant"]) == {"train_eval", "eval_train", "eval_eval"}
    assert primary["p_holm"].to_numpy() == pytest.approx(holm(primary["p_value"].to_numpy()))
    assert (primary["p_holm"] >= primary["p_value"]).all()
    better = primary.filter(pl.col("quadrant") == "train_eval").row(0, named=True)
    assert better["rmse_diff"] < 0 and better["holm_rejects"]
    # the simultaneous interval (Bonferroni over 3 cells) contains the nominal one
    assert (primary["diff_lo_simultaneous"] <= primary["diff_lo"]).all()
    assert (primary["diff_hi_simultaneous"] >= primary["diff_hi"]).all()
    # another primary: only its cells form the family, so UntrainedICL - MetaSFT rows are absent and nothing is primary
    _, other = metrics_table(predictions, pairs, {}, 100, 0.95, seed=1,
                             primary=Primary("MetaSFT", "UntrainedICL", ("eval_eval",)))
    assert other.filter(pl.col("family") == "primary")["quadrant"].to_list() == ["eval_eval"]
    assert other.filter(pl.col("family") == "exploratory")["p_holm"].is_nan().all()
    assert PRIMARY == Primary.from_config({})
    # a primary the default comparisons do not hold (UntrainedICL minus MetaSFT) is compared for it
    _, reversed_rows = metrics_table(predictions, pairs, {}, 100, 0.95, seed=1,
                                     primary=Primary("UntrainedICL", "MetaSFT", ("train_eval",)))
    row = reversed_rows.filter(pl.col("family") == "primary").row(0, named=True)
    assert (row["method"], row["baseline"], row["quadrant"]) == ("UntrainedICL", "MetaSFT", "train_eval")
    assert row["rmse_diff"] == pytest.approx(-better["rmse_diff"]) and row["holm_rejects"]


@pytest.mark.parametrize("same_set", [False, True])
def test_domain_bootstrap_covers_the_true_rmse_where_the_pair_bootstrap_does_not(same_set):
    """Worlds with known components: a pair's error is mu + a_T + b_E + residual (sd 8, 6, 6, 4), so the RMSE over
    infinitely many domains is sqrt(8^2 + 6^2 + 6^2 + 4^2). Over 200 simulated worlds of 16 x 16 pairs, the
    domain bootstrap's 95% interval covers it close to 95% of the time; i.i.d. pairs cover it about half the time."""
    truth = math.sqrt(8 ** 2 + 6 ** 2 + 6 ** 2 + 4 ** 2)
    n, worlds = 16, 200
    rng = np.random.default_rng(0)
    covered = {"domains": 0, "pairs": 0}
    t = np.repeat(np.arange(n), n)
    e = np.tile(np.arange(n), n)
    design = PairDesign.of(t.astype(str), e.astype(str), same_set)
    for world in range(worlds):
        error = 8 + rng.normal(0, 6, n)[t] + rng.normal(0, 6, n)[e] + rng.normal(0, 4, n * n)
        for unit in covered:
            values = np.concatenate([resampled_statistics(error[None], np.zeros((1, n * n)), weights)["rmse"]
                                     for weights in resample_weights(design, unit, 300, world)])
            low, high = percentile_interval(values, 0.95)
            covered[unit] += low <= truth <= high
    assert covered["domains"] / worlds >= 0.86
    assert covered["pairs"] / worlds <= 0.65


def test_same_half_bootstrap_is_not_pulled_toward_the_diagonal():
    """Diagonal pairs with errors of 60 among off-diagonal ones of about 5 (6 domains: the GT-EvalOnly shape). The
    resampled mean squared error stays near the sample's; counting two copies of a domain as a diagonal pair would
    double the diagonal's share and put the whole interval above the estimate."""
    n = 6
    t, e = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    error = np.where(t == e, 60.0, 5.0 + np.random.default_rng(0).normal(0, 1, n * n))
    design = PairDesign.of_quadrant("eval_eval", t.astype(str), e.astype(str))
    squared = resampled_means(error ** 2, design, "domains", 2000, seed=1)[0]
    assert squared.mean() == pytest.approx(np.mean(error ** 2), rel=0.1)
    low, high = percentile_interval(np.sqrt(squared), 0.95)
    assert low < np.sqrt(np.mean(error ** 2)) < high


def test_off_diagonal_columns_leave_out_the_diagonal_pairs():
    predictions, pairs, (t_index, e_index, icl, meta, golden) = crossed_world(n_train=5, n_eval=5, seed=4)
    same_half = pairs.with_columns(train_domain=pl.col("train_domain").str.replace("t", "d"),
                                   eval_domain=pl.col("eval_domain").str.replace("e", "d"), quadrant=pl.lit("eval_eval"))
    renamed = predictions.with_columns(train_domain=pl.col("train_domain").str.replace("t", "d"),
                                       eval_domain=pl.col("eval_domain").str.replace("e", "d"))
    table, comparisons = metrics_table(renamed, same_half, {}, 100, 0.95, seed=0)
    off = t_index != e_index
    rows = {r["method"]: r for r in table.iter_rows(named=True)}
    for method, values in (("UntrainedICL", icl), ("MetaSFT", meta)):
        assert rows[method]["n_pairs_offdiag"] == 20 and rows[method]["n_pairs"] == 25
        assert rows[method]["rmse_offdiag"] == pytest.approx(np.sqrt(np.mean((values[off] - golden[off]) ** 2)))
        assert rows[method]["rmse"] == pytest.approx(np.sqrt(np.mean((values - golden) ** 2)))
        assert rows[method]["rmse_offdiag_lo"] < rows[method]["rmse_offdiag"] < rows[method]["rmse_offdiag_hi"]
    row = comparisons.row(0, named=True)
    assert row["rmse_diff_offdiag"] == pytest.approx(rows["MetaSFT"]["rmse_offdiag"] - rows["UntrainedICL"]["rmse_offdiag"])
    # a cross quadrant has no diagonal: the columns repeat the quadrant's own
    cross, _ = metrics_table(predictions, pairs, {}, 100, 0.95, seed=0)
    first = cross.row(0, named=True)
    assert first["n_pairs_offdiag"] == first["n_pairs"] and first["rmse_offdiag_lo"] == first["rmse_lo"]


def test_correlation_ceiling_is_the_square_root_of_gt_reliability():
    from test_metrics import quadrant_predictions

    predictions, pairs, _ = quadrant_predictions()
    table, _ = metrics_table(predictions, pairs, {}, 0, 0.95, 0)
    gt = table.filter(pl.col("method") == "GT").row(0, named=True)
    assert 0 < gt["pearson_r"] < 1
    assert table["pearson_ceiling"].to_list() == pytest.approx([math.sqrt(gt["pearson_r"])] * table.height)
    assert table["spearman_ceiling"].to_list() == pytest.approx([math.sqrt(gt["spearman_rho"])] * table.height)


def test_summary_states_the_primary_result_in_one_line():
    from metasft.runs.summary import comparison_table, primary_result

    predictions, pairs = three_quadrant_predictions()
    _, comparisons = metrics_table(predictions, pairs, {}, 400, 0.95, seed=1)
    lines = primary_result(comparisons)
    assert lines[0] == ("Primary result: MetaSFT better than UntrainedICL in 1 of 3 evaluation quadrants "
                        "(Holm-adjusted p < 0.05; domain-level bootstrap; 1 replicate)")
    cell = comparisons.filter(pl.col("quadrant") == "train_eval").row(0, named=True)
    assert (f"train_eval {cell['rmse_diff']:+.1f} [{cell['diff_lo_simultaneous']:+.1f}, "
            f"{cell['diff_hi_simultaneous']:+.1f}] p_holm {cell['p_holm']:.3f}") in lines[1]
    assert comparison_table(comparisons)[0].startswith("Exploratory:")
    assert primary_result(comparisons.drop("family")) == []  # a table from before the primary family
