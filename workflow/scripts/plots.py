"""Rule plots: the headline RMSE figure, correlations, calibration, scatter and the golden heatmap."""
from metasft.plots import make_figures
from metasft.workflow import start_job

start_job(snakemake)
make_figures(snakemake.input, snakemake.output)
