"""Rule inverse: rank the candidates, write inverse.csv (top-1, top-5, MRR per method x quadrant) and its figure."""
from metasft.analysis.inverse import inverse
from metasft.pipeline.jobs import start_job

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
inverse(snakemake.input.suite, snakemake.input.likelihoods, snakemake.input.golden,
        table_path=snakemake.output.table, ranks_path=snakemake.output.ranks, figure_path=snakemake.output.figure,
        answers_per_question=snakemake.params.answers_per_question,
        n_resamples=snakemake.params.bootstrap_resamples, confidence=snakemake.params.confidence,
        seed=snakemake.params.seed, resample=snakemake.params.resample)
