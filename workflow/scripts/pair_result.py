"""Rule pair_result: one (T, E) pair's rows of a chunk table."""
from metasft.pipeline.jobs import start_job
from metasft.pipeline.io import pair_result

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
pair_result(snakemake.input[0], snakemake.output[0], train_domain=snakemake.wildcards.train_domain,
            eval_domain=snakemake.wildcards.eval_domain)
