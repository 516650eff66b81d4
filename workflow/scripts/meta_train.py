"""Rule meta_train: LoRA-train the base model on the MetaSFT dataset (the meta-model)."""
from metasft.meta import train_meta_model
from metasft.reruns import job_settings
from metasft.workflow import start_job

start_job(snakemake)
settings = job_settings(snakemake.params.settings, snakemake.config, "meta_train")
train_meta_model(snakemake.input.shards, snakemake.params.base_model, settings, snakemake.params.seed,
                 snakemake.output[0], snakemake.threads, snakemake.params.chat)
