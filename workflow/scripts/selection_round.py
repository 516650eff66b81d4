"""Checkpoint selection_round: the policy picks the next round's meta-train domains with this round's meta-model."""
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings
from metasft.selection.live import selection_round

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
i, p = snakemake.input, snakemake.params
selection_round(i.suite, list(i.icl), i.adapter, snakemake.output.picks, round_index=int(snakemake.wildcards.round),
                policy=p.policy, chosen=list(p.chosen), seed=p.seed, base_model=p.base_model, chat=p.chat,
                selection=p.selection, meta_train=job_settings(p.meta_train, snakemake.config, "meta_train"),
                generation=job_settings(p.generation, snakemake.config, "generation"),
                judge=job_settings(p.judge, snakemake.config, "judge"), icl_k=p.icl_k,
                training_seed=p.training_seed, threads=snakemake.threads, run_name=snakemake.config["run"])
