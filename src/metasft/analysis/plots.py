"""Figures: RMSE and correlation per quadrant (the study's headline), the per-train-domain ranking of eval domains,
calibration, scatter, golden heatmap."""

from __future__ import annotations

import numpy as np
import polars as pl

from metasft.analysis.comparisons import EVALUATION_QUADRANTS, comparison_order
from metasft.analysis.resampling import UNIT_WORD
from metasft.pipeline.io import atomic_path, read_csv, read_parquet
from metasft.sources import BY_NAME, COLOURS, METHODS, by_model
from metasft.suites.domains import QUADRANTS

# The nl_by_quadrant figure: each ICL method beside its NL counterparts (the model methods, grouped by model).
NL_FIGURE_METHODS = tuple(by_model([m for m in METHODS if BY_NAME[m].rule]))


def _save(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")


def _bars(metrics: pl.DataFrame, value: str, low: str, high: str, ylabel: str, title: str, path=None,
          methods=METHODS, ax=None) -> None:
    """One bar per method and quadrant with its CI; drawn into `ax` when given, else saved to `path`."""
    import matplotlib.pyplot as plt

    quadrants = [q for q in QUADRANTS if q in set(metrics["quadrant"])]
    methods = [m for m in methods if m in set(metrics["method"])]
    width = 0.8 / len(methods)
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.9 * len(quadrants) + 1.5 + 0.3 * max(len(methods) - 5, 0), 3.6))
    for i, method in enumerate(methods):
        part = metrics.filter(pl.col("method") == method)
        lookup = {r["quadrant"]: r for r in part.iter_rows(named=True)}
        x = np.arange(len(quadrants)) + (i - (len(methods) - 1) / 2) * width
        heights = np.array([lookup.get(q, {}).get(value, np.nan) for q in quadrants], dtype=float)
        lo = np.array([lookup.get(q, {}).get(low, np.nan) for q in quadrants], dtype=float)
        hi = np.array([lookup.get(q, {}).get(high, np.nan) for q in quadrants], dtype=float)
        errors = np.nan_to_num(np.vstack([heights - lo, hi - heights]), nan=0.0).clip(min=0)
        ax.bar(x, heights, width, label=method, color=COLOURS[method], yerr=errors, capsize=2,
               error_kw={"elinewidth": 0.8})
    ax.set_xticks(np.arange(len(quadrants)))
    ax.set_xticklabels([q + ("\n(MetaSFT training)" if q == "train_train" else "") for q in quadrants])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncols=min(len(methods), 5), loc="upper center", bbox_to_anchor=(0.5, -0.18),
              frameon=False)
    ax.axhline(0, color="black", linewidth=0.5)
    if fig is not None:
        _save(fig, path)
        plt.close(fig)


def nl_plots(metrics_path, path) -> None:
    """Stage `nl_plots`: the ICL methods beside the NL ones (T described in plain words instead of shown by
    examples) per quadrant: RMSE (left) and the per-train-domain Spearman rho (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = read_csv(metrics_path)
    quadrants = metrics["quadrant"].n_unique()
    fig, axes = plt.subplots(1, 2, figsize=(2 * (1.9 * quadrants + 1.5), 3.8))
    _bars(metrics, "rmse", "rmse_lo", "rmse_hi", "RMSE (propensity points)", "Prediction error (lower is better)",
          methods=NL_FIGURE_METHODS, ax=axes[0])
    _bars(metrics, "per_train_spearman", "per_train_lo", "per_train_hi", "Spearman rho within a train domain",
          "Which eval domains will move? (higher is better)", methods=NL_FIGURE_METHODS, ax=axes[1])
    fig.suptitle("Examples (ICL) or a description (NL) of the training data", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def comparisons_figure(comparisons: pl.DataFrame, path) -> None:
    """Each compared method's RMSE minus its baseline's per evaluation quadrant (MetaSFT against every method, and
    the NL methods' own comparisons), with the paired bootstrap CI: left of zero, the method predicts better on the
    same pairs."""
    import matplotlib.pyplot as plt

    quadrants = [q for q in EVALUATION_QUADRANTS if q in set(comparisons["quadrant"])]
    compared = comparison_order(comparisons)
    primary = set(comparisons.filter(pl.col("family") == "primary").select("method", "baseline").iter_rows()) \
        if "family" in comparisons.columns else set()
    labels = [f"{m} - {b}" + (" (primary)" if (m, b) in primary else "") for m, b in compared]
    fig, axes = plt.subplots(1, max(len(quadrants), 1), figsize=(3.4 * max(len(quadrants), 1), 0.45 * len(compared) + 1.4),
                             sharey=True, squeeze=False)
    for ax, quadrant in zip(axes[0], quadrants):
        part = {(r["method"], r["baseline"]): r
                for r in comparisons.filter(pl.col("quadrant") == quadrant).iter_rows(named=True)}
        for y, (method, baseline) in enumerate(compared):
            row = part.get((method, baseline))
            if row is None:
                continue
            low, high = row["diff_lo"], row["diff_hi"]
            has_ci = low is not None and not np.isnan(low)
            if row.get("family") == "primary" and not np.isnan(row["diff_lo_simultaneous"]):
                ax.plot([row["diff_lo_simultaneous"], row["diff_hi_simultaneous"]], [y, y], color="0.6",
                        linewidth=4, alpha=0.5, solid_capstyle="butt", zorder=0)
            ax.errorbar(row["rmse_diff"], y, xerr=[[row["rmse_diff"] - low], [high - row["rmse_diff"]]] if has_ci else None,
                        fmt="o", color=COLOURS[baseline], mec=COLOURS[method], capsize=3, markersize=5)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_title(f"{quadrant} ({next(iter(part.values()))['n_pairs']} pairs)", fontsize=9)
        ax.set_xlabel("RMSE(method) - RMSE(baseline)")
    axes[0, 0].set_yticks(range(len(compared)), labels)
    axes[0, 0].invert_yaxis()
    unit = UNIT_WORD.get(comparisons["resample"][0], "") \
        if "resample" in comparisons.columns and comparisons.height else ""
    fig.suptitle(f"Method minus baseline on the same pairs (paired 95% {unit}-level bootstrap CI; < 0: the method is "
                 "better).\nPrimary rows: grey band = simultaneous CI over their quadrants (Holm family); the other "
                 "rows are exploratory", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def calibration(predictions: pl.DataFrame, path) -> None:
    """Per evaluation quadrant (train_train is MetaSFT's training data), the histogram of each method's
    predicted propensities against that of the golden ones (permutation 0)."""
    import matplotlib.pyplot as plt

    methods = [m for m in METHODS if m != "GT" and m in set(predictions["method"])]
    quadrants = [q for q in EVALUATION_QUADRANTS if q in set(predictions["quadrant"])]
    bins = np.linspace(0, 100, 21)
    fig, axes = plt.subplots(len(quadrants), len(methods), figsize=(2.9 * len(methods), 2.3 * len(quadrants)),
                             sharex=True, squeeze=False)
    for i, quadrant in enumerate(quadrants):
        for j, method in enumerate(methods):
            ax = axes[i, j]
            part = predictions.filter((pl.col("method") == method) & (pl.col("quadrant") == quadrant)
                                      & (pl.col("permutation") == 0))
            ax.hist(part["y_ref"].drop_nulls().to_numpy(), bins=bins, color="black", alpha=0.35, label="golden")
            ax.hist(part["y_hat"].drop_nulls().to_numpy(), bins=bins, histtype="step", linewidth=1.6,
                    color=COLOURS[method], label=method)
            if i == 0:
                ax.set_title(method, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{quadrant}\npairs", fontsize=8)
            if i == len(quadrants) - 1:
                ax.set_xlabel("propensity", fontsize=8)
            ax.tick_params(labelsize=7)
            if i == 0:
                ax.legend(fontsize=6, frameon=False)
    _save(fig, path)
    plt.close(fig)


def scatter(predictions: pl.DataFrame, path) -> None:
    """Predicted vs golden propensity, one panel per method x quadrant (permutation 0). Many pairs share a
    point (propensities are means of a few discrete scores), so large quadrants are drawn as a density."""
    import matplotlib.pyplot as plt

    methods = [m for m in METHODS if m in set(predictions["method"])]
    fig, axes = plt.subplots(len(methods), len(QUADRANTS), figsize=(2.4 * len(QUADRANTS), 2.3 * len(methods)),
                             sharex=True, sharey=True, squeeze=False)
    for i, method in enumerate(methods):
        for j, quadrant in enumerate(QUADRANTS):
            ax = axes[i, j]
            part = predictions.filter((pl.col("method") == method) & (pl.col("quadrant") == quadrant)
                                      & (pl.col("permutation") == 0)).drop_nulls(["y_hat", "y_ref"])
            ax.plot([0, 100], [0, 100], color="grey", linewidth=0.6)
            if part.height > 200:
                ax.hexbin(part["y_ref"].to_numpy(), part["y_hat"].to_numpy(), gridsize=20, extent=(0, 100, 0, 100),
                          mincnt=1, bins="log", cmap="Greys" if method.startswith("GT") else "viridis")
            else:
                ax.scatter(part["y_ref"], part["y_hat"], s=8, color=COLOURS[method], alpha=0.7)
            if part.height > 2:
                r = float(np.corrcoef(part["y_ref"].to_numpy(), part["y_hat"].to_numpy())[0, 1])
                ax.text(0.03, 0.97, f"n={part.height}\nr={r:.2f}", transform=ax.transAxes, fontsize=6, va="top")
            ax.set_xlim(0, 100)
            ax.set_ylim(0, 100)
            if i == 0:
                ax.set_title(quadrant, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{method}\npredicted", fontsize=8)
            if i == len(methods) - 1:
                ax.set_xlabel("golden" if method != "GT" else "golden (half B)", fontsize=8)
    _save(fig, path)
    plt.close(fig)


def golden_heatmap(propensities: pl.DataFrame, split: dict[str, str], path,
                   groups: dict[str, str] | None = None) -> None:
    """T x E golden propensity, meta-train domains first so the quadrants are blocks; within each half the
    domains are ordered by `groups` (the designated option's persona), with thin lines between groups, so the
    world's structure shows as blocks even at 100 domains (where domain names would not fit)."""
    import matplotlib.pyplot as plt

    groups = groups or {}
    golden = propensities.filter(pl.col("source") == "golden")
    order = sorted(split, key=lambda d: (split[d] != "meta_train", groups.get(d) or "", d))
    index = {d: i for i, d in enumerate(order)}
    grid = np.full((len(order), len(order)), np.nan)
    rows = golden.drop_nulls("propensity")
    grid[[index[t] for t in rows["train_domain"]], [index[e] for e in rows["eval_domain"]]] = rows["propensity"]
    size = min(max(4.0, 0.28 * len(order) + 2), 9.0)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis", interpolation="nearest")
    for position in range(1, len(order)):
        before, here = order[position - 1], order[position]
        if split[before] != split[here]:
            ax.axhline(position - 0.5, color="white", linewidth=1.5)
            ax.axvline(position - 0.5, color="white", linewidth=1.5)
        elif groups and groups.get(before) != groups.get(here):
            ax.axhline(position - 0.5, color="white", linewidth=0.3, alpha=0.6)
            ax.axvline(position - 0.5, color="white", linewidth=0.3, alpha=0.6)
    if len(order) <= 40:
        ax.set_xticks(range(len(order)), order, rotation=90, fontsize=6)
        ax.set_yticks(range(len(order)), order, fontsize=6)
    else:
        n_train = sum(split[d] == "meta_train" for d in order)
        centres = [(n_train - 1) / 2, n_train + (len(order) - n_train - 1) / 2]
        ax.set_xticks(centres, ["meta-train", "meta-eval"])
        ax.set_yticks(centres, ["meta-train", "meta-eval"], rotation=90, va="center")
    grouped = " (grouped by designated persona)" if groups else ""
    ax.set_xlabel(f"eval domain E{grouped}")
    ax.set_ylabel(f"train domain T{grouped}")
    ax.set_title(f"Golden propensity y(T, E), {len(order)} x {len(order)} pairs", fontsize=10)
    fig.colorbar(image, ax=ax, label="golden propensity", shrink=0.8)
    _save(fig, path)
    plt.close(fig)


def plots(metrics_path, comparisons_path, propensities_path, predictions_path, suite_path,
          figures: dict[str, str]) -> None:
    """Stage `plots`: every figure of the run; `figures` maps figure name to its PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    from metasft.suites.snapshot import read_snapshot

    metrics = read_csv(metrics_path)
    propensities = read_parquet(propensities_path)
    predictions = read_parquet(predictions_path)
    suite, split = read_snapshot(suite_path)
    _bars(metrics, "rmse", "rmse_lo", "rmse_hi", "RMSE (propensity points)",
          "Prediction error per quadrant (lower is better)", figures["rmse_by_quadrant"])
    _bars(metrics, "pearson_r", "pearson_lo", "pearson_hi", "Pearson r",
          "Correlation with golden propensity (higher is better)", figures["correlation_by_quadrant"])
    _bars(metrics, "per_train_spearman", "per_train_lo", "per_train_hi", "Spearman rho within a train domain",
          "Which eval domains will move? (per train domain, averaged)", figures["leak_by_quadrant"])
    comparisons_figure(read_csv(comparisons_path), figures["comparisons"])
    calibration(predictions, figures["calibration"])
    scatter(predictions, figures["scatter"])
    golden_heatmap(propensities, split, figures["golden_heatmap"],
                   {d.id: d.designated_persona for d in suite.domains.values()})


def inverse_figure(table: pl.DataFrame, path) -> None:
    """Rule `inverse`: which training data did this? Top-1 accuracy and mean reciprocal rank of the true train domain
    per quadrant, one bar per method (the golden propensities are the ceiling), chance as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {**COLOURS, "GoldenPropensity": "#333333"}
    quadrants = [q for q in QUADRANTS if q in set(table["quadrant"])]
    methods = list(dict.fromkeys(table["method"]))  # inverse.csv's order (metasft.analysis.inverse.INVERSE_METHODS)
    fig, axes = plt.subplots(1, 2, figsize=(3.2 * len(quadrants) + 1.0, 4.2))
    width = 0.8 / len(methods)
    for ax, (value, title) in zip(axes, (("top1", "Top-1 accuracy"), ("mrr", "Mean reciprocal rank"))):
        for i, method in enumerate(methods):
            lookup = {r["quadrant"]: r for r in table.filter(pl.col("method") == method).iter_rows(named=True)}
            x = np.arange(len(quadrants)) + (i - (len(methods) - 1) / 2) * width
            heights = np.array([lookup.get(q, {}).get(value, np.nan) for q in quadrants], dtype=float)
            lo = np.array([lookup.get(q, {}).get(f"{value}_lo", np.nan) for q in quadrants], dtype=float)
            hi = np.array([lookup.get(q, {}).get(f"{value}_hi", np.nan) for q in quadrants], dtype=float)
            errors = np.nan_to_num(np.vstack([heights - lo, hi - heights]), nan=0.0).clip(min=0)
            ax.bar(x, heights, width, label=method, color=colors.get(method), yerr=errors, capsize=2,
                   error_kw={"elinewidth": 0.8})
        chance = {r["quadrant"]: r[f"chance_{value}"] for r in table.iter_rows(named=True)}
        for q_index, q in enumerate(quadrants):
            ax.hlines(chance[q], q_index - 0.45, q_index + 0.45, colors="black", linestyles="dashed", linewidth=0.9,
                      label="chance" if q_index == 0 else None)
        ax.set_xticks(np.arange(len(quadrants)))
        ax.set_xticklabels([q + ("\n(MetaSFT training)" if q == "train_train" else "") for q in quadrants])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(title)
        ax.set_title(f"{title} of the true train domain (higher is better)", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, ncols=len(labels), loc="lower center", frameon=False)
    fig.suptitle("Which training data did this? Candidates ranked by the likelihood of M_T's answers", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    _save(fig, path)
    plt.close(fig)
