"""Rules golden, predict_icl, predict_metasft: sample answers for every (T, E) with T in the chunk."""
from metasft.generation.answers import sample_chunk
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings

start_job(snakemake)
p = snakemake.params
sample_chunk(snakemake.input.suite, p.base_model, p.adapters, p.source, p.domains,
             job_settings(p.sampling, snakemake.config, "generation"), p.icl_k, p.seed,
             snakemake.output[0], snakemake.threads, p.chat)
