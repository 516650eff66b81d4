"""Rule pair_result: one (T, E) pair's rows of a chunk table."""
import polars as pl

from metasft.pipeline.io import read_parquet, write_parquet
from metasft.pipeline.jobs import start_job

start_job(snakemake)
w = snakemake.wildcards
table = read_parquet(snakemake.input[0])
write_parquet(table.filter((pl.col("train_domain") == w.train_domain) & (pl.col("eval_domain") == w.eval_domain)),
              snakemake.output[0])
