"""Rule meta_train: LoRA-train the base model on the MetaSFT dataset (the meta-model)."""
from metasft.methods.metasft import train_meta_model
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings

start_job(snakemake)
settings = job_settings(snakemake.params.settings, snakemake.config, "meta_train")
train_meta_model(snakemake.input.shards, snakemake.params.base_model, settings, snakemake.params.seed,
                 snakemake.output[0], snakemake.threads, snakemake.params.chat)
