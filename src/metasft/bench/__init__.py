"""Benchmarks, apart from the runtime code: each module is a command (`python -m metasft.bench.<name>`).

- pipeline: wall time and peak memory of a whole Snakemake run, with per-rule times.
- generation: answer generation per-pair processes vs. an in-process loop vs. the engine.
- metrics: the baselines and metrics stages at any scale on synthetic golden scores.
"""
