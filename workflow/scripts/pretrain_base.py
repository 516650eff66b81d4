"""Rule pretrain_base: tokenizer and tiny Qwen3 model trained from scratch on the persona world."""
from metasft.models.tiny import pretrain_base
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
pretrain_base(snakemake.input[0], snakemake.output[0],
              settings=job_settings(snakemake.params.settings, snakemake.config, "tiny"),
              seed=snakemake.params.seed, threads=snakemake.threads,
              judge_prompts_folder=snakemake.params.judge_prompts)
