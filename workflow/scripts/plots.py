"""Rule plots: the headline RMSE figure, correlations, calibration, scatter and the golden heatmap."""
from metasft.plots import make_figures
from metasft.workflow import log_to_file

log_to_file(snakemake.log[0])
make_figures(snakemake.input, snakemake.output)
