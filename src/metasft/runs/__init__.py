"""A run as a whole: what it will cost before it starts, and what it found when it ends.

- plan: jobs, GPU-hours, answers and API requests per rule of a config (`python -m metasft.runs.plan`), and the
  run's budget checked against them.
- summary: the end-of-run summary (Snakemake `onsuccess`) and the failed jobs of a failed run (`onerror`).

It sits above every other subpackage: it reads suites, resources and the analysis tables, and nothing below imports
it.
"""
