"""Rule nl_plots: RMSE and per-train-domain Spearman of the ICL and NL methods per quadrant."""
from metasft.analysis.plots import nl_plots
from metasft.pipeline.jobs import start_job

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
nl_plots(snakemake.input.metrics, snakemake.output.nl_by_quadrant)
