"""Rule finetune (ObjectSFT): one LoRA adapter per train domain of the chunk, from one base-model load."""
from metasft.models.finetune import finetune
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
finetune(snakemake.input.suite, snakemake.output[0], base_model=snakemake.params.base_model,
         domains=snakemake.params.domains,
         settings=job_settings(snakemake.params.settings, snakemake.config, "finetune"),
         seed=snakemake.params.seed, threads=snakemake.threads, chat=snakemake.params.chat)
