"""The selection loop's schedule: config `selection` as settings, fine-tunes after each round, meta-training steps
per round. Light to import: the workflow checks a config with it while it builds the DAG."""

from __future__ import annotations

import math
from dataclasses import dataclass

from metasft.selection.policies import SelectionError


@dataclass(frozen=True)
class SelectionSettings:
    """Config `selection`, built by `metasft.pipeline.config.settings_from` (the schema holds the defaults)."""
    initial: int
    per_round: int
    budget: int | None
    warm_start: bool
    probe_eval_domains: int | None
    probe_samples_per_question: int
    uncertainty_draws: int
    search_iterations: int


def schedule(n_candidates: int, settings: SelectionSettings) -> list[int]:
    """Fine-tunes after each round: initial, then per_round more a round, up to the budget (null: every
    candidate)."""
    budget = n_candidates if settings.budget is None else settings.budget
    if settings.initial > n_candidates or budget > n_candidates:
        raise SelectionError(f"selection.initial = {settings.initial} and selection.budget = {budget} must not exceed "
                             f"the {n_candidates} meta-train domains of the run")
    if settings.initial > budget:
        raise SelectionError(f"selection.initial = {settings.initial} exceeds selection.budget = {budget}")
    counts = [settings.initial]
    while counts[-1] < budget:
        counts.append(min(counts[-1] + settings.per_round, budget))
    return counts


def check_selection(selection: dict, n_meta_train: int) -> list[int]:
    """Config `selection` against the run's meta-train half: the rounds' fine-tune counts, or SelectionError."""
    from metasft.pipeline.config import settings_from

    return schedule(n_meta_train, settings_from(SelectionSettings, selection, "selection"))


def train_steps(schedule_counts: list[int], round_index: int, max_steps: int, warm: bool, n_meta_train: int) -> int:
    """Meta-training steps of a round: the run's max_steps cold; warm, the round's share of them, its new domains
    over the meta-train half (at least one step), so every labelled domain is trained on for as many steps as in the
    run's own MetaSFT and a curve to the whole half costs one meta-training."""
    if not warm:
        return max_steps
    added = schedule_counts[round_index] - (schedule_counts[round_index - 1] if round_index else 0)
    return max(1, math.ceil(max_steps * added / n_meta_train))
