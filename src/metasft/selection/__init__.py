"""Selection: which meta-train domains to fine-tune next, live or replayed on a finished run, and what it costs.

- policies: random, surprise, uncertainty, search, diversity and the oracle, each with its cost in forward passes.
- schedule: config `selection` as settings, fine-tunes per round, meta-training steps (light: DAG time).
- simulation: the replay's loop (schedule, hidden golden labels, rounds, evaluation on fixed pairs).
- stages: the meta-model it trains and samples, stages `simulate_selection_start` and `simulate_selection`.
- curves: learning_curve.csv, its summary and the figure (stage `learning_curve`).
- live: the live loop's growing chunks and its checkpoint stage `selection_round`.
- cost: GPU-hours per round of a live loop and per replayed curve (the planner; SLURM resources).
"""
