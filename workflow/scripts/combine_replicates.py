"""Rule combine_replicates: metrics and comparisons over every replicate of the run (replicates, then domains)."""
from metasft.analysis.replicates import combine_replicates
from metasft.pipeline.jobs import start_job

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
combine_replicates(list(snakemake.input), metrics_path=snakemake.output.metrics,
                   comparisons_path=snakemake.output.comparisons, n_resamples=snakemake.params.bootstrap_resamples,
                   confidence=snakemake.params.confidence, seed=snakemake.params.seed,
                   resample=snakemake.params.resample, primary=dict(snakemake.params.primary))
