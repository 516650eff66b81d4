"""Rule generate_suite: one advice area's train pairs and eval questions through the Anthropic API (cached)."""
from metasft.judging.api import make_client
from metasft.judging.cache import JudgeCache
from metasft.pipeline.jobs import start_job
from metasft.pipeline.reruns import job_settings
from metasft.suites.generation import generate_area, write_area_yaml

start_job(snakemake)
settings = job_settings(snakemake.params.settings, snakemake.config, "suite_generation")
client = make_client(max_retries=settings["max_retries"], timeout=settings["timeout_s"])
area = generate_area(snakemake.params.area, settings["train_pairs"], settings["eval_questions"], settings["model"],
                     snakemake.params.prompts, JudgeCache(snakemake.config["judge"]["cache_dir"]), client,
                     settings["max_tokens"])
write_area_yaml(area, snakemake.output[0])
