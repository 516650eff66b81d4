"""Rule plots: the headline RMSE figure, paired comparisons, correlations, calibration, scatter, golden heatmap."""
from metasft.analysis.plots import make_figures
from metasft.pipeline.jobs import start_job

start_job(snakemake)
i = snakemake.input
make_figures(i.metrics, i.comparisons, i.propensities, i.predictions, i.suite, dict(snakemake.output.items()))
