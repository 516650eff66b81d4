"""Learning curves of the selection replay: the table, its summary (area under each curve, fine-tunes to reach the
full run) and the figure.

`learning_curve.csv` holds every curve point (policy, seed, fine-tunes used, quadrant, MetaSFT's RMSE on the fixed
evaluation pairs with its domain-level CI) and two reference rows per quadrant on the same pairs and resamples:
UntrainedICL (no fine-tune at all, `fine_tunes` 0) and the run's own MetaSFT trained on every meta-train domain
(`MetaSFT-full`, `fine_tunes` the meta-train half).

`learning_curve_summary.csv`, per policy and quadrant, over seeds:
- `auc`: the area under RMSE vs fine-tunes divided by the span of fine-tunes (the curve's mean RMSE; lower is
  better), mean and standard deviation over seeds; `auc_minus_random`: the paired difference to `random` on the
  same seed (the same initial set), mean with a t interval over seeds, and `seeds_below_random`;
- `fine_tunes_to_full`: per seed the fewest fine-tunes from which on every later point's RMSE stays within the
  full run's CI (at most its upper bound); the median over seeds and how many seeds got there (`seeds_reaching_full`);
- `untrained_within_full`: UntrainedICL, with no fine-tune at all, is itself within that CI. Then reaching the full
  run takes no fine-tune, and `fine_tunes_to_full` says nothing about a policy: the run's MetaSFT did not learn
  beyond in-context learning on these pairs.
The row with quadrant `all` asks the same of the three evaluation quadrants at once.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from scipy import stats

from metasft.pipeline.io import atomic_path
from metasft.selection.policies import POLICIES
from metasft.selection.simulation import EVALUATION_QUADRANTS, ReplayRun, evaluate, evaluation_pairs

FULL = "MetaSFT-full"
REFERENCES = ("UntrainedICL", FULL)
POLICY_COLOURS = {"random": "#7f7f7f", "surprise": "#d62728", "uncertainty": "#1f77b4", "search": "#9467bd",
                  "diversity": "#2ca02c", "oracle": "#ff7f0e"}


def reference_rows(run: ReplayRun, eval_domains: int | None, seed: int, n_resamples: int,
                   confidence: float) -> pl.DataFrame:
    """UntrainedICL and the run's MetaSFT (every meta-train domain fine-tuned) on the curves' evaluation pairs and
    bootstrap resamples (`metasft.selection.simulation.evaluate`)."""
    pairs = evaluation_pairs(run.split, eval_domains, seed)
    rows = []
    for name, source in (("UntrainedICL", "UntrainedICL"), (FULL, "MetaSFT")):
        predicted = run.of(source).select("train_domain", "eval_domain", "propensity")
        rows += [{"policy": name, "fine_tunes": 0 if name == "UntrainedICL" else len(run.meta_train), **row}
                 for row in evaluate(predicted, run, pairs, n_resamples, confidence, seed)]
    return pl.DataFrame(rows)


def learning_curve_table(curves: pl.DataFrame, references: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([curves.with_columns(kind=pl.lit("curve")),
                      references.with_columns(kind=pl.lit("reference"))], how="diagonal_relaxed").sort(
        "kind", "policy", "seed", "fine_tunes", "quadrant", nulls_last=True)


def area_under_curve(fine_tunes: np.ndarray, rmse: np.ndarray) -> float:
    """Trapezoidal area under RMSE over fine-tunes, divided by the span (a one-point curve: its RMSE)."""
    order = np.argsort(fine_tunes)
    x, y = np.asarray(fine_tunes, float)[order], np.asarray(rmse, float)[order]
    if len(x) == 1 or x[-1] == x[0]:
        return float(y.mean())
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def fine_tunes_to_reach(fine_tunes: np.ndarray, within: np.ndarray) -> float:
    """The fewest fine-tunes from which on every point is `within` (nan if the last point is not)."""
    order = np.argsort(fine_tunes)
    x, ok = np.asarray(fine_tunes)[order], np.asarray(within, bool)[order]
    if not ok[-1]:
        return math.nan
    first = len(ok) - int(np.argmin(ok[::-1])) if not ok.all() else 0
    return float(x[first])


def _t_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return math.nan, math.nan
    half = stats.t.ppf((1 + confidence) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def summary(curves: pl.DataFrame, references: pl.DataFrame, confidence: float = 0.95) -> pl.DataFrame:
    """Per policy and quadrant (and `all`): area under the curve against random, fine-tunes to reach the full run."""
    full_high = {r["quadrant"]: r["ci_high"] for r in references.filter(pl.col("policy") == FULL).iter_rows(named=True)}
    untrained_within = {r["quadrant"]: r["rmse"] <= full_high.get(r["quadrant"], math.nan)
                        for r in references.filter(pl.col("policy") == "UntrainedICL").iter_rows(named=True)}
    untrained_within["all"] = bool(untrained_within) and all(untrained_within.get(q, False)
                                                             for q in EVALUATION_QUADRANTS)
    per_seed = []
    for (policy, seed), part in curves.group_by("policy", "seed", maintain_order=True):
        part = part.sort("fine_tunes")
        within_all = None
        for quadrant in EVALUATION_QUADRANTS:
            q = part.filter(pl.col("quadrant") == quadrant)
            x, y = q["fine_tunes"].to_numpy(), q["rmse"].to_numpy()
            within = y <= full_high.get(quadrant, math.nan)
            within_all = within if within_all is None else within_all & within
            per_seed.append({"policy": policy, "seed": seed, "quadrant": quadrant, "auc": area_under_curve(x, y),
                             "fine_tunes_to_full": fine_tunes_to_reach(x, within)})
        # the three quadrants share the curve's fine-tune counts (x); "all": their mean RMSE, every one within
        mean_rmse = part.group_by("fine_tunes").agg(pl.col("rmse").mean()).sort("fine_tunes")
        per_seed.append({"policy": policy, "seed": seed, "quadrant": "all",
                         "auc": area_under_curve(mean_rmse["fine_tunes"].to_numpy(), mean_rmse["rmse"].to_numpy()),
                         "fine_tunes_to_full": fine_tunes_to_reach(x, within_all)})
    per_seed = pl.DataFrame(per_seed)
    random_auc = {(r["seed"], r["quadrant"]): r["auc"]
                  for r in per_seed.filter(pl.col("policy") == "random").iter_rows(named=True)}
    rows = []
    for (policy, quadrant), part in per_seed.group_by("policy", "quadrant", maintain_order=True):
        auc = part["auc"].to_numpy()
        diff = np.array([a - random_auc.get((s, quadrant), math.nan) for s, a in zip(part["seed"], auc)])
        low, high = _t_interval(diff, confidence)
        reach = part["fine_tunes_to_full"].to_numpy()
        rows.append({"policy": policy, "quadrant": quadrant, "seeds": len(part), "auc_mean": float(auc.mean()),
                     "auc_sd": float(auc.std(ddof=1)) if len(auc) > 1 else math.nan,
                     "auc_minus_random": float(np.nanmean(diff)) if np.isfinite(diff).any() else math.nan,
                     "auc_minus_random_low": low, "auc_minus_random_high": high,
                     "seeds_below_random": int(np.sum(diff < 0)),
                     "fine_tunes_to_full_median": float(np.nanmedian(reach)) if np.isfinite(reach).any() else math.nan,
                     "seeds_reaching_full": int(np.isfinite(reach).sum()),
                     "untrained_within_full": untrained_within.get(quadrant, False),
                     "sees_hidden_labels": POLICIES[policy].sees_hidden_labels if policy in POLICIES else False})
    order = {p: i for i, p in enumerate(POLICIES)}
    quadrants = {q: i for i, q in enumerate((*EVALUATION_QUADRANTS, "all"))}
    return pl.DataFrame(rows).sort(pl.col("policy").replace_strict(order, default=99),
                                   pl.col("quadrant").replace_strict(quadrants, default=9))


def plot(curves: pl.DataFrame, references: pl.DataFrame, path, title: str = "") -> None:
    """RMSE vs fine-tunes per evaluation quadrant: a line per policy (mean over seeds, band min to max), UntrainedICL
    dashed, the full run's MetaSFT with its CI shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(EVALUATION_QUADRANTS), figsize=(4.2 * len(EVALUATION_QUADRANTS), 3.6),
                             sharey=True)
    policies = [p for p in POLICIES if p in set(curves["policy"])]
    for ax, quadrant in zip(axes, EVALUATION_QUADRANTS):
        part = curves.filter(pl.col("quadrant") == quadrant)
        for policy in policies:
            band = part.filter(pl.col("policy") == policy).group_by("fine_tunes").agg(
                mean=pl.col("rmse").mean(), low=pl.col("rmse").min(), high=pl.col("rmse").max(),
                seeds=pl.len()).sort("fine_tunes")
            colour = POLICY_COLOURS.get(policy)
            label = f"{policy} ({band['seeds'].max()} seeds)" + (" [sees hidden labels]"
                                                                  if POLICIES[policy].sees_hidden_labels else "")
            ax.plot(band["fine_tunes"], band["mean"], marker="o", markersize=3, color=colour, label=label,
                    linestyle=":" if POLICIES[policy].sees_hidden_labels else "-")
            ax.fill_between(band["fine_tunes"], band["low"], band["high"], color=colour, alpha=0.15, linewidth=0)
        lookup = {r["policy"]: r for r in references.filter(pl.col("quadrant") == quadrant).iter_rows(named=True)}
        if FULL in lookup:
            full = lookup[FULL]
            ax.axhline(full["rmse"], color="black", linewidth=1, label=f"MetaSFT, all {full['fine_tunes']} fine-tunes")
            if np.isfinite(full["ci_low"]):
                ax.axhspan(full["ci_low"], full["ci_high"], color="black", alpha=0.08, linewidth=0)
        if "UntrainedICL" in lookup:
            ax.axhline(lookup["UntrainedICL"]["rmse"], color="black", linestyle="--", linewidth=1,
                       label="UntrainedICL (no fine-tune)")
        ax.set_title(quadrant, fontsize=10)
        ax.set_xlabel("meta-train fine-tunes")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel("MetaSFT RMSE (propensity points)")
    axes[0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(1.6, -0.2), ncols=4, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)


def learning_curve(curve_paths: list[str], rounds_paths: list[str], suite_path, propensities_path,
                    outputs: dict[str, str], *, eval_domains: int | None, seed: int, n_resamples: int,
                    confidence: float) -> pl.DataFrame:
    """Stage `learning_curve`: every policy's curves with the reference rows (learning_curve.csv), their summary,
    all rounds in one table, and the figure."""
    from metasft.pipeline.io import read_csv, read_parquet, read_parquets, write_csv
    from metasft.suites.snapshot import read_snapshot

    suite, split = read_snapshot(suite_path)
    run = ReplayRun(suite, split, pl.DataFrame(), read_parquet(propensities_path))
    curves = read_parquets(curve_paths)
    references = reference_rows(run, eval_domains, seed, n_resamples, confidence)
    table = learning_curve_table(curves, references)
    write_csv(table, outputs["table"])
    write_csv(summary(curves, references, confidence), outputs["summary"])
    write_csv(pl.concat([read_csv(p) for p in rounds_paths], how="vertical_relaxed"), outputs["rounds"])
    plot(curves, references, outputs["figure"],
         title=f"{suite.name}: MetaSFT error vs meta-train fine-tunes ({curves['seed'].n_unique()} seeds a policy)")
    return table
