"""Rule finetune (ObjectSFT): one LoRA adapter per train domain of the chunk, from one base-model load."""
from metasft.models.finetune import finetune_domains
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings

start_job(snakemake)
settings = job_settings(snakemake.params.settings, snakemake.config, "finetune")
finetune_domains(snakemake.input.suite, snakemake.params.base_model, snakemake.params.domains, settings,
                 snakemake.params.seed, snakemake.output[0], snakemake.threads, snakemake.params.chat)
