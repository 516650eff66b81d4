"""Figures: RMSE and correlation per quadrant (the study's headline), calibration, scatter, golden heatmap."""

from __future__ import annotations

import numpy as np
import polars as pl

from metasft.io import atomic_path
from metasft.metrics import METHODS
from metasft.suite import QUADRANTS

COLORS = {"GT": "#333333", "GT-EvalOnly": "#8c8c8c", "GT-TrainOnly": "#c7c7c7", "UntrainedICL": "#4c72b0",
          "MetaSFT": "#dd8452"}


def _save(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")


def _bars(metrics: pl.DataFrame, value: str, low: str, high: str, ylabel: str, title: str, path) -> None:
    import matplotlib.pyplot as plt

    quadrants = [q for q in QUADRANTS if q in set(metrics["quadrant"])]
    methods = [m for m in METHODS if m in set(metrics["method"])]
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(1.9 * len(quadrants) + 1.5, 3.6))
    for i, method in enumerate(methods):
        part = metrics.filter(pl.col("method") == method)
        lookup = {r["quadrant"]: r for r in part.iter_rows(named=True)}
        x = np.arange(len(quadrants)) + (i - (len(methods) - 1) / 2) * width
        heights = np.array([lookup.get(q, {}).get(value, np.nan) for q in quadrants], dtype=float)
        lo = np.array([lookup.get(q, {}).get(low, np.nan) for q in quadrants], dtype=float)
        hi = np.array([lookup.get(q, {}).get(high, np.nan) for q in quadrants], dtype=float)
        errors = np.nan_to_num(np.vstack([heights - lo, hi - heights]), nan=0.0).clip(min=0)
        ax.bar(x, heights, width, label=method, color=COLORS[method], yerr=errors, capsize=2,
               error_kw={"elinewidth": 0.8})
    ax.set_xticks(np.arange(len(quadrants)))
    ax.set_xticklabels([q + ("\n(MetaSFT training)" if q == "train_train" else "") for q in quadrants])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, ncols=len(methods), loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    ax.axhline(0, color="black", linewidth=0.5)
    _save(fig, path)
    plt.close(fig)


def calibration(predictions: pl.DataFrame, propensities: pl.DataFrame, path) -> None:
    """Histogram of each method's predicted propensities against the golden ones (permutation 0)."""
    import matplotlib.pyplot as plt

    golden = propensities.filter(pl.col("source") == "golden")["propensity"].drop_nulls().to_numpy()
    methods = [m for m in METHODS if m != "GT" and m in set(predictions["method"])]
    bins = np.linspace(0, 100, 21)
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 2.8), sharey=True)
    for ax, method in zip(np.atleast_1d(axes), methods):
        y_hat = predictions.filter((pl.col("method") == method) & (pl.col("permutation") == 0))["y_hat"]
        ax.hist(golden, bins=bins, alpha=0.5, color="black", label="golden (GT)")
        ax.hist(y_hat.drop_nulls().to_numpy(), bins=bins, alpha=0.6, color=COLORS[method], label=method)
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("propensity")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("pairs")
    _save(fig, path)
    plt.close(fig)


def scatter(predictions: pl.DataFrame, path) -> None:
    """Predicted vs golden propensity, one panel per method x quadrant (permutation 0)."""
    import matplotlib.pyplot as plt

    methods = [m for m in METHODS if m in set(predictions["method"])]
    fig, axes = plt.subplots(len(methods), len(QUADRANTS), figsize=(2.4 * len(QUADRANTS), 2.3 * len(methods)),
                             sharex=True, sharey=True, squeeze=False)
    for i, method in enumerate(methods):
        for j, quadrant in enumerate(QUADRANTS):
            ax = axes[i, j]
            part = predictions.filter((pl.col("method") == method) & (pl.col("quadrant") == quadrant)
                                      & (pl.col("permutation") == 0))
            ax.plot([0, 100], [0, 100], color="grey", linewidth=0.6)
            ax.scatter(part["y_ref"], part["y_hat"], s=8, color=COLORS[method], alpha=0.7)
            if i == 0:
                ax.set_title(quadrant, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{method}\npredicted", fontsize=8)
            if i == len(methods) - 1:
                ax.set_xlabel("golden" if method != "GT" else "golden (half B)", fontsize=8)
    _save(fig, path)
    plt.close(fig)


def golden_heatmap(propensities: pl.DataFrame, split: dict[str, str], path) -> None:
    """T x E golden propensity, domains ordered meta-train first so the quadrants are blocks."""
    import matplotlib.pyplot as plt

    golden = propensities.filter(pl.col("source") == "golden")
    order = sorted(split, key=lambda d: (split[d] != "meta_train", d))
    index = {d: i for i, d in enumerate(order)}
    grid = np.full((len(order), len(order)), np.nan)
    for row in golden.iter_rows(named=True):
        if row["propensity"] is not None:
            grid[index[row["train_domain"]], index[row["eval_domain"]]] = row["propensity"]
    size = max(4.0, 0.28 * len(order) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis")
    n_train = sum(split[d] == "meta_train" for d in order)
    for line in (n_train - 0.5,):
        ax.axhline(line, color="white", linewidth=1)
        ax.axvline(line, color="white", linewidth=1)
    if len(order) <= 40:
        ax.set_xticks(range(len(order)), order, rotation=90, fontsize=6)
        ax.set_yticks(range(len(order)), order, fontsize=6)
    ax.set_xlabel("eval domain E")
    ax.set_ylabel("train domain T")
    fig.colorbar(image, ax=ax, label="golden propensity")
    _save(fig, path)
    plt.close(fig)


def make_figures(inputs, outputs) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from metasft.snapshot import read_snapshot

    metrics = pl.read_csv(inputs.metrics)
    propensities = pl.read_parquet(inputs.propensities)
    predictions = pl.read_parquet(inputs.predictions)
    _, split = read_snapshot(inputs.suite)
    _bars(metrics, "rmse", "rmse_lo", "rmse_hi", "RMSE (propensity points)",
          "Prediction error per quadrant (lower is better)", outputs.rmse_by_quadrant)
    _bars(metrics, "pearson_r", "pearson_lo", "pearson_hi", "Pearson r",
          "Correlation with golden propensity (higher is better)", outputs.correlation_by_quadrant)
    calibration(predictions, propensities, outputs.calibration)
    scatter(predictions, outputs.scatter)
    golden_heatmap(propensities, split, outputs.golden_heatmap)
