"""Rule score: per-answer scores for one chunk of one source (option parser or LLM judge)."""
from metasft.io import read_parquet, write_parquet
from metasft.judges import build_judge, score_with_judge
from metasft.modeling import configure_torch
from metasft.reruns import job_settings
from metasft.scoring import score_answers
from metasft.snapshot import read_snapshot
from metasft.workflow import start_job

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
    judge.cache.close()  # records this job's cache hits and misses (python -m metasft.judge_cache stats)
write_parquet(scores, snakemake.output[0])
