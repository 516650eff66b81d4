"""Rule suite: snapshot the run's domains, their train/eval data and the meta split."""
from metasft.pipeline.jobs import start_job
from metasft.suites.domains import split_domains
from metasft.suites.load import load_suite
from metasft.suites.snapshot import write_snapshot

start_job(snakemake)
params = snakemake.params
suite = load_suite(params.path, params.generated_dir).subset(params.domains)
split = split_domains(list(suite.domains), params.seed, params.meta_train_fraction)
write_snapshot(suite, split, params.eval_questions_per_domain, snakemake.output[0])
