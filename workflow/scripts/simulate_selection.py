"""Rule simulate_selection: one policy's learning curve for one seed, replayed on the run's golden labels."""
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings
from metasft.selection.stages import simulate_selection

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
i, p = snakemake.input, snakemake.params
simulate_selection(i.suite, list(i.golden), i.propensities, dict(snakemake.output.items()),
                   policy=snakemake.wildcards.policy, simulation_seed=int(snakemake.wildcards.selection_seed),
                   seed=p.seed, n_resamples=p.bootstrap_resamples, confidence=p.confidence,
                   start={"adapter": i.start_adapter, "predictions": i.start_predictions, "start": i.start},
                   base_model=p.base_model, chat=p.chat, selection=p.selection,
                   meta_train=job_settings(p.meta_train, snakemake.config, "meta_train"),
                   generation=job_settings(p.generation, snakemake.config, "generation"),
                   judge=job_settings(p.judge, snakemake.config, "judge"), icl_k=p.icl_k,
                   training_seed=p.training_seed, threads=snakemake.threads, run_name=snakemake.config["run"])
