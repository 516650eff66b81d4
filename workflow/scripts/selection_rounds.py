"""Rule selection_rounds: every round's candidates, scores and picks of a live selection in one table."""
from metasft.pipeline.jobs import start_job
from metasft.selection.live import selection_rounds

start_job(snakemake.log[0], snakemake.rule, list(snakemake.wildcards), snakemake.config)
selection_rounds(list(snakemake.params.initial), list(snakemake.input), snakemake.output[0])
