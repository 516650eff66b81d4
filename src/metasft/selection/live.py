"""The live selection loop (config selection.enabled): meta-train domains are fine-tuned in rounds, each round's picks
made by a policy from the meta-model trained on the rounds before (rules/live_selection.smk).

The workflow's chunks of train domains grow round by round: `Chunks` holds the chunks known before any pick and
names a round's chunks `round<r>part<k>`, whose domains it asks of checkpoint selection_round (through the
workflow's `round_picks`) only when an input function needs them. Stage `selection_round` is that checkpoint's job:
the policy's probes with the round's meta-model, the pick, `selection/rounds/<r>/picks.json`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import polars as pl

from metasft.selection.policies import POLICIES, SelectionError
from metasft.selection.schedule import check_selection

ROUND_CHUNK = re.compile(r"round(\d+)part(\d+)")


class Chunks(Mapping):
    """Chunks of train domains {name: domains}: the `static` ones and, for rounds 1 .. n_rounds - 1 of a live
    selection, each round's picks cut into chunks of `per_job` (their domains from `picks(round)`, which waits for
    the checkpoint, so iterating or looking up a round's chunk belongs in input functions)."""

    def __init__(self, static: dict[str, list[str]], per_job: int, n_rounds: int,
                 picks: Callable[[int], list[str]]):
        self.static, self.per_job, self.n_rounds, self._picks = dict(static), per_job, n_rounds, picks

    def round_chunks(self, round_index: int) -> dict[str, list[str]]:
        picks = self._picks(round_index)
        return {f"round{round_index}part{k // self.per_job:03d}": picks[k:k + self.per_job]
                for k in range(0, len(picks), self.per_job)}

    def __getitem__(self, name: str) -> list[str]:
        if name in self.static:
            return self.static[name]
        match = ROUND_CHUNK.fullmatch(name)
        if match and 1 <= int(match[1]) < self.n_rounds:
            members = self.round_chunks(int(match[1])).get(name)
            if members:
                return members
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        yield from self.static
        for r in range(1, self.n_rounds):
            yield from self.round_chunks(r)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def of(self, domain: str) -> str:
        """The chunk that holds `domain`."""
        return next(name for name, members in self.items() if domain in members)

    def pattern(self, *more_static) -> str:
        """A wildcard constraint matching every chunk name (the rounds' by their form)."""
        names = [*self.static, *(n for extra in more_static for n in extra)]
        alternatives = [re.escape(n) for n in dict.fromkeys(names)]
        if self.n_rounds > 1:
            alternatives.append(r"round\d+part\d+")
        return "|".join(alternatives) or "(?!)"


def base_source_chunks(domains: list[str], per_job: int, live: bool) -> dict[str, list[str]]:
    """Chunks of the base-model sources: every domain; with live selection named all<k> (apart from the fine-tuned
    rows' part<k>, which hold other domains), one-domain chunks by the domain as always."""
    from metasft.pipeline.resources import chunk_domains

    chunks = chunk_domains(domains, per_job)
    if live and per_job > 1:
        return {name.replace("part", "all", 1): members for name, members in chunks.items()}
    return chunks


def live_selection_plan(config: dict, split: dict[str, str], inverse_methods) -> tuple[list[int], list[str]]:
    """Fine-tunes after each round and the seeded initial set of a live selection, or SelectionError naming the key
    at fault."""
    from metasft.selection.simulation import initial_domains

    selection = config["selection"]
    policy = selection["policy"]
    if POLICIES[policy].sees_hidden_labels:
        raise SelectionError(f"selection.policy {policy!r} reads golden labels no live run has (replay only: "
                             "selection.simulation.policies)")
    if selection["simulation"]["enabled"]:
        raise SelectionError("selection.enabled and selection.simulation.enabled: the replay needs a run that "
                             "fine-tuned every meta-train domain, which a live selection does not; run it on an "
                             "ordinary run")
    if inverse_methods:
        raise SelectionError("selection.enabled needs inverse.enabled: false: inverse prediction ranks the golden "
                             "answers of every meta-train domain, and a live selection fine-tunes only those it picks")
    if config.get("replicates", 1) > 1:
        raise SelectionError("selection.enabled with replicates > 1 is not supported: each replicate would pick its "
                             "own domains")
    meta_train = sorted(d for d, s in split.items() if s == "meta_train")
    counts = check_selection(selection, len(meta_train))
    return counts, initial_domains(meta_train, counts[0], config["seed"], 0)


def read_picks(path) -> list[str]:
    from metasft.pipeline.io import read_json

    return list(read_json(path)["chosen"])


def selection_round(suite_path, icl_score_paths: list[str], adapter, output, *, round_index: int, policy: str,
                    chosen: list[str], seed: int, **model_settings) -> list[str]:
    """Stage `selection_round` (a checkpoint): the next round's meta-train domains. The policy ranks the candidates
    (meta-train domains not chosen yet) by its surrogates from the round's meta-model (`adapter`) and the run's
    UntrainedICL answers (`icl_score_paths`); `output` (JSON) gets the picks and every candidate's score.
    `model_settings`: the keywords of `metasft.selection.stages.meta_models`."""
    import numpy as np

    from metasft.analysis.propensities import propensities
    from metasft.pipeline.io import read_parquets, write_json
    from metasft.pipeline.seeds import derived_seed
    from metasft.selection.policies import choose
    from metasft.selection.simulation import icl_features, seeded_sample, surrogates
    from metasft.selection.stages import meta_models
    from metasft.suites.snapshot import read_snapshot

    suite, split = read_snapshot(suite_path)
    icl = propensities(read_parquets(icl_score_paths)).with_columns(source=pl.lit("UntrainedICL"))
    models, settings = meta_models(suite, split, pl.DataFrame(), icl, **model_settings)
    counts = check_selection(model_settings["selection"], len(models.run.meta_train))
    if round_index + 1 >= len(counts):
        raise SelectionError(f"round {round_index} is the last of {len(counts)}: nothing to pick after it")
    candidates = [d for d in models.run.meta_train if d not in chosen]
    probe = seeded_sample(models.run.meta_train, settings.probe_eval_domains, derived_seed(seed, "selection-probe"),
                          "probe")
    found = surrogates(policy, candidates, Path(adapter), models, None, probe, settings, icl_features(models.run))
    rng = np.random.default_rng(derived_seed(seed, "selection", policy, "live", round_index))
    picks, scores = choose(policy, candidates, chosen, counts[round_index + 1] - counts[round_index], found, rng,
                           settings.search_iterations)
    write_json({"round": round_index + 1, "policy": policy, "chosen": picks,
                "scores": {d: scores.get(d) for d in candidates}}, output)
    return picks


def selection_rounds(initial: list[str], picks_paths: list[str], output) -> pl.DataFrame:
    """Stage `selection_rounds`: selection/rounds.csv, one row per candidate and round (round 0: the seeded initial
    set), the policy's score and whether it was chosen."""
    from metasft.pipeline.io import read_json, write_csv

    rows = [{"round": 0, "domain": d, "chosen": True, "score": None} for d in initial]
    for path in picks_paths:
        picks = read_json(path)
        rows += [{"round": picks["round"], "domain": d, "chosen": d in picks["chosen"], "score": s}
                 for d, s in sorted(picks["scores"].items())]
    table = pl.DataFrame(rows, schema={"round": pl.Int64, "domain": pl.String, "chosen": pl.Boolean,
                                       "score": pl.Float64})
    write_csv(table, output)
    return table
