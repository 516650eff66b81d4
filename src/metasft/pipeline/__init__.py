"""Workflow support: config checks, job start, resources and cost model, atomic io, reruns, seeds and summaries.

- config: DAG-time config checks and the schema's defaults (`load_config`).
- jobs: `start_job`, what every job script does first (log file, injected faults for tests).
- io: atomic writes and checked readers; outputs: which rule writes each output and how to rebuild it.
- reruns: which settings rerun jobs (`result_settings`) and which are performance-only (`job_settings`).
- resources: domain chunks, job sizes for the SLURM profile and the GPU cost model; plan: the cost planner CLI.
- secrets: the Anthropic API key from the environment; seeds: `derived_seed`, every random choice's seed.
- summary: what the workflow prints when a run ends (results) or fails (failed jobs and their errors).
"""
