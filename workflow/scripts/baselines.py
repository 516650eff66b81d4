"""Rule baselines: GT (split halves), GT-EvalOnly and GT-TrainOnly (pooled and shuffled) from golden scores."""
from metasft.analysis.baselines import baselines
from metasft.pipeline.jobs import start_job

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
baselines(list(snakemake.input.golden), snakemake.output[0], permutations=snakemake.params.permutations,
          seed=snakemake.params.seed)
