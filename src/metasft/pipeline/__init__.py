"""Workflow support, the floor every other subpackage stands on: config checks, job start, resources, io, reruns, seeds.

- config: DAG-time config checks, presets' `extends:` and the schema's defaults (`load_config`); validation: schema
  errors one line per key.
- jobs: `start_job`, what every job script does first (log file, injected faults for tests).
- io: atomic writes and checked readers; outputs: which rule writes each output, how to rebuild it, the cheap check of
  a finished run's tables.
- reruns: which settings rerun jobs (`result_settings`) and which are performance-only (`job_settings`).
- resources: domain chunks, job sizes for the SLURM profile and the GPU cost model.
- replicates: seeds and layout of a run's replicates; provenance: `run_info.json`.
- secrets: the Anthropic API key from the environment; seeds: `derived_seed`, every random choice's seed.

The cost planner and the end-of-run summary, which read suites and analysis tables, are a floor up: `metasft.runs`.
"""
