"""Rules golden, predict_icl, predict_metasft: sample answers for every (T, E) with T in the chunk."""
from metasft.generation.answers import sample_answers
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
sample_answers(snakemake.input.suite, snakemake.output[0], source=snakemake.params.source,
               base_model=snakemake.params.base_model, adapters=snakemake.params.adapters,
               train_domains=snakemake.params.domains,
               settings=job_settings(snakemake.params.sampling, snakemake.config, "generation"),
               icl_k=snakemake.params.icl_k, seed=snakemake.params.seed, threads=snakemake.threads,
               chat=snakemake.params.chat)
