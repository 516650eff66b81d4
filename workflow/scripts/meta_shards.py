"""Rules meta_shards, meta_shards_nl: ObjectICL (and, for MetaSFT-NL, description) prompts of train_train pairs with
the golden answers as completions."""
from metasft.methods.metasft import meta_shards
from metasft.pipeline.jobs import start_job

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
meta_shards(snakemake.input.suite, list(snakemake.input.golden), snakemake.output[0],
            icl_k=snakemake.params.icl_k, seed=snakemake.params.seed,
            description_fraction=snakemake.params.description_fraction)
