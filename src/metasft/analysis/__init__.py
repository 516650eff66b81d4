"""Analysis: propensities, the GT baselines, bootstrap statistics, the metrics table and the figures.

- propensities: per-pair propensities from per-answer scores, answer-status rates, the unscored-answer gate.
- baselines: GT, GT-EvalOnly and GT-TrainOnly from the golden samples (stage `baselines`).
- statistics: RMSE, Pearson, Spearman, Spearman-Brown, batched bootstrap resampling and percentile CIs.
- metrics: the metrics table, paired comparisons and generalization summary (stage `metrics`); METHODS.
- plots: the figures (stage `plots`).
"""
