"""Rule inverse_likelihoods: every forward method's score of every candidate train domain, for a chunk of eval domains."""
from metasft.methods.inverse import inverse_likelihoods
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
settings = job_settings(snakemake.params.settings, snakemake.config, "inverse")
inverse_likelihoods(snakemake.input.suite, snakemake.input.golden, snakemake.output[0],
                    base_model=snakemake.params.base_model, adapters=snakemake.params.adapters,
                    methods=snakemake.params.methods, eval_domains=snakemake.params.eval_domains,
                    icl_k=snakemake.params.icl_k, seed=snakemake.params.seed,
                    answers_per_question=settings["answers_per_question"], batch_tokens=settings["batch_tokens"],
                    threads=snakemake.threads, chat=snakemake.params.chat)
