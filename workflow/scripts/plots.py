"""Rule plots: the headline RMSE figure, paired comparisons, correlations, per-train-domain ranking, calibration,
scatter, golden heatmap."""
from metasft.analysis.plots import plots
from metasft.pipeline.jobs import start_job

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
plots(snakemake.input.metrics, snakemake.input.comparisons, snakemake.input.propensities,
      snakemake.input.predictions, snakemake.input.suite, dict(snakemake.output.items()))
