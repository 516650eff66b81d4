"""Rule suite: snapshot the run's domains, their train/eval data and the meta split."""
from metasft.suite import load_suite, split_domains
from metasft.snapshot import write_snapshot
from metasft.workflow import start_job

start_job(snakemake)
params = snakemake.params
suite = load_suite(params.path, params.generated_dir).subset(params.domains)
split = split_domains(list(suite.domains), params.seed, params.meta_train_fraction)
write_snapshot(suite, split, params.eval_questions_per_domain, snakemake.output[0])
