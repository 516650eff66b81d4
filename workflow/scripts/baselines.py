"""Rule baselines: GT (split halves), GT-EvalOnly and GT-TrainOnly (pooled and shuffled) from golden scores."""
from metasft.analysis.baselines import all_baselines
from metasft.pipeline.io import read_parquets, write_parquet
from metasft.pipeline.jobs import start_job

start_job(snakemake)
golden = read_parquets(snakemake.input.golden)
write_parquet(all_baselines(golden, snakemake.params.permutations, snakemake.params.seed), snakemake.output[0])
