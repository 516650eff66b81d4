"""Rule run_info: run_info.json, the provenance of the run (config hash, software, machines)."""
from metasft.pipeline.jobs import start_job
from metasft.pipeline.provenance import run_info

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
run_info(snakemake.params.results, snakemake.output[0], config=dict(snakemake.config))
