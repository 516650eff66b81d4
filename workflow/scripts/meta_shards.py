"""Rule meta_shards: ObjectICL prompts of train_train pairs with the golden answers as completions."""
from metasft.methods.metasft import build_meta_dataset
from metasft.pipeline.jobs import start_job

start_job(snakemake)
build_meta_dataset(snakemake.input.suite, snakemake.input.golden, snakemake.params.icl_k, snakemake.params.seed,
                   snakemake.output[0])
