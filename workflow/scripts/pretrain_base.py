"""Rule pretrain_base: tokenizer and tiny Qwen3 model trained from scratch on the persona world."""
import logging

from metasft.judging.prompts import load_judge_prompts
from metasft.models.tiny import TinySettings, pretrain_tiny
from metasft.pipeline.config import settings_from
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings
from metasft.suites.snapshot import read_snapshot

start_job(snakemake)
suite, _ = read_snapshot(snakemake.input[0])
prompts_folder = snakemake.params.judge_prompts
judge_prompts = load_judge_prompts(prompts_folder) if prompts_folder else None
settings = settings_from(TinySettings, job_settings(snakemake.params.settings, snakemake.config, "tiny"), "tiny")
summary = pretrain_tiny(suite, settings, snakemake.output[0],
                        snakemake.params.seed, threads=snakemake.threads, judge_prompts=judge_prompts)
logging.info("pretrain summary: %s", {k: v for k, v in summary.items() if k != "log_history"})
