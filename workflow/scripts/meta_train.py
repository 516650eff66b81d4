"""Rules meta_train, meta_train_nl: LoRA-train the base model on the MetaSFT (MetaSFT-NL) dataset: the meta-model."""
from metasft.methods.metasft import meta_train
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
meta_train(snakemake.input.shards, snakemake.output[0], base_model=snakemake.params.base_model,
           settings=job_settings(snakemake.params.settings, snakemake.config, "meta_train"),
           seed=snakemake.params.seed, threads=snakemake.threads, chat=snakemake.params.chat,
           init_adapter=snakemake.params.init_adapter, round_index=snakemake.params.round_index)
