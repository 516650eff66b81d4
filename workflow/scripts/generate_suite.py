"""Rule generate_suite: one unit's data (advice area, person, relation) through the Anthropic API (cached)."""
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings
from metasft.suites.units import generate_suite

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
generate_suite(snakemake.params.area, snakemake.output[0],
               settings=job_settings(snakemake.params.settings, snakemake.config, "suite_generation"),
               prompts_folder=snakemake.params.prompts, cache_dir=snakemake.config["judge"]["cache_dir"])
