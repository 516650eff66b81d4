"""Rule score: per-answer scores for one chunk of one source (option parser or LLM judge)."""
from metasft.judging.score import build_judge, score_answers, score_with_judge
from metasft.models.loading import configure_torch
from metasft.pipeline.io import read_parquet, write_parquet
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings
from metasft.suites.snapshot import read_snapshot

start_job(snakemake)
params = snakemake.params
settings = job_settings(params.judge, snakemake.config, "judge")
suite, _ = read_snapshot(snakemake.input.suite)
answers = read_parquet(snakemake.input.answers)
if settings["backend"] == "categorical":
    scores = score_answers(answers, suite)
else:
    configure_torch(snakemake.threads)
    batch_dir = f"{settings['cache_dir']}/batches/{snakemake.config['run']}"  # this run's pending Message Batches
    judge = build_judge(settings, params.base_model, settings["cache_dir"], batch_dir, params.chat)
    scores = score_with_judge(answers, judge)
    judge.cache.close()  # records this job's cache hits and misses (python -m metasft.judging.cache stats)
write_parquet(scores, snakemake.output[0])
