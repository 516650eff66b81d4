"""Rule metrics: propensities per pair and method, and RMSE / Pearson / Spearman per method x quadrant."""
from metasft.analysis.metrics import evaluate
from metasft.pipeline.jobs import start_job

start_job(snakemake)
i, p = snakemake.input, snakemake.params
evaluate(i.suite, i.baselines, {"golden": i.golden, "UntrainedICL": i.untrained_icl, "MetaSFT": i.metasft},
         p.bootstrap_resamples, p.confidence, p.seed, snakemake.output, p.max_unscored_rate)
