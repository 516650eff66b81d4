"""Rule finetune (ObjectSFT): one LoRA adapter per train domain of the chunk, from one base-model load."""
from metasft.objectsft import finetune_domains
from metasft.workflow import start_job

start_job(snakemake)
finetune_domains(snakemake.input.suite, snakemake.params.base_model, snakemake.params.domains,
                 snakemake.params.settings, snakemake.params.seed, snakemake.output[0], snakemake.threads,
                 snakemake.params.chat)
