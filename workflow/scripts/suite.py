"""Rule suite: snapshot the run's domains, their train/eval data and the meta split."""
from metasft.pipeline.jobs import start_job
from metasft.suites.snapshot import suite

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
suite(snakemake.params.path, snakemake.output[0], generated_dir=snakemake.params.generated_dir,
      domains=snakemake.params.domains, seed=snakemake.params.seed,
      meta_train_fraction=snakemake.params.meta_train_fraction,
      eval_questions_per_domain=snakemake.params.eval_questions_per_domain,
      descriptions_path=snakemake.input.descriptions[0] if snakemake.input.descriptions else None)
