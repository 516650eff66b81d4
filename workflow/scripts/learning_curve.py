"""Rule learning_curve: the learning curves of every replayed policy and seed, their summary and figure."""
from metasft.pipeline.jobs import start_job
from metasft.selection.curves import learning_curve

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
learning_curve(list(snakemake.input.curves), list(snakemake.input.rounds), snakemake.input.suite,
               snakemake.input.propensities, dict(snakemake.output.items()),
               eval_domains=snakemake.params.eval_domains, seed=snakemake.params.seed,
               n_resamples=snakemake.params.bootstrap_resamples, confidence=snakemake.params.confidence)
