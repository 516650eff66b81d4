"""Rule metrics: propensities per pair and method, and RMSE / Pearson / Spearman per method x quadrant."""
from metasft.analysis.metrics import metrics
from metasft.pipeline.jobs import start_job

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
metrics(snakemake.input.suite, snakemake.input.baselines,
        snakemake.params.score_paths,
        metrics_path=snakemake.output.metrics, generalization_path=snakemake.output.generalization,
        propensities_path=snakemake.output.propensities, predictions_path=snakemake.output.predictions,
        comparisons_path=snakemake.output.comparisons, bootstrap_resamples=snakemake.params.bootstrap_resamples,
        confidence=snakemake.params.confidence, seed=snakemake.params.seed, resample=snakemake.params.resample,
        primary=dict(snakemake.params.primary),
        max_unscored_rate=snakemake.params.max_unscored_rate)
