"""Rule score: per-answer scores for one chunk of one source."""
import polars as pl

from metasft.io import write_parquet
from metasft.scoring import score_answers
from metasft.snapshot import read_snapshot
from metasft.workflow import start_job

start_job(snakemake)
suite, _ = read_snapshot(snakemake.input.suite)
write_parquet(score_answers(pl.read_parquet(snakemake.input.answers), suite), snakemake.output[0])
