"""Rule simulate_selection_start: round 0 of one seed's curves (its initial set is every policy's), trained once."""
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings
from metasft.selection.stages import simulate_selection_start

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
i, p = snakemake.input, snakemake.params
simulate_selection_start(i.suite, list(i.golden), i.propensities, dict(snakemake.output.items()),
                         simulation_seed=int(snakemake.wildcards.selection_seed), seed=p.seed,
                         base_model=p.base_model, chat=p.chat, selection=p.selection,
                         meta_train=job_settings(p.meta_train, snakemake.config, "meta_train"),
                         generation=job_settings(p.generation, snakemake.config, "generation"),
                         judge=job_settings(p.judge, snakemake.config, "judge"), icl_k=p.icl_k,
                         training_seed=p.training_seed, threads=snakemake.threads, run_name=snakemake.config["run"])
