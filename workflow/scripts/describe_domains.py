"""Rule describe_domains: Claude-written descriptions of the training data of the domains the suite leaves undescribed."""
from metasft.pipeline.jobs import start_job
from metasft.suites.describe import describe_domains

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
generation = snakemake.config["suite_generation"]
describe_domains(snakemake.params.path, snakemake.output[0], generated_dir=snakemake.params.generated_dir,
                 domains=snakemake.params.domains, settings=snakemake.params.settings, model=snakemake.params.model,
                 seed=snakemake.params.seed, cache_dir=snakemake.config["judge"]["cache_dir"],
                 max_retries=generation["max_retries"], timeout_s=generation["timeout_s"],
                 prompt_path=snakemake.input.prompt)
