"""Rule score: per-answer scores for one chunk of one source (option parser or LLM judge)."""
from metasft.judging.score import score
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
score(snakemake.input.answers, snakemake.input.suite, snakemake.output[0],
      settings=job_settings(snakemake.params.judge, snakemake.config, "judge"),
      base_model=snakemake.params.base_model, chat=snakemake.params.chat, threads=snakemake.threads,
      run=snakemake.config["run"])
