"""Which rule writes each output, and the command that rebuilds it."""

from __future__ import annotations

import os
import re
from pathlib import Path


class OutputError(RuntimeError):
    """A pipeline output is missing, unreadable or damaged; the message names it and how to rebuild it."""


# Which rule makes which output, and the output (file or folder) to force to rebuild it: the layout of
# rules/*.smk under results/<run>/ (tests/test_outputs.py checks it against the workflow's own summary).
_PRODUCERS = [
    (r"results/[^/]+/base_model", "pretrain_base"),
    (r"results/[^/]+/finetune/[^/]+", "finetune"),
    (r"results/[^/]+/meta/adapter", "meta_train"),
    (r"results/[^/]+/meta/metasft_train\.parquet", "meta_shards"),
    (r"results/[^/]+/meta_nl/adapter", "meta_train_nl"),
    (r"results/[^/]+/meta_nl/metasft_train\.parquet", "meta_shards_nl"),
    (r"results/[^/]+/suite/suite\.json", "suite"),
    (r"results/[^/]+/suite/generated/[^/]+\.yaml", "generate_suite"),
    (r"results/[^/]+/suite/descriptions\.json", "describe_domains"),
    (r"results/[^/]+/answers/golden/chunks/[^/]+\.parquet", "golden"),
    (r"results/[^/]+/answers/UntrainedICL/chunks/[^/]+\.parquet", "predict_icl"),
    (r"results/[^/]+/answers/MetaSFT/chunks/[^/]+\.parquet", "predict_metasft"),
    (r"results/[^/]+/answers/UntrainedNL/chunks/[^/]+\.parquet", "predict_nl"),
    (r"results/[^/]+/answers/MetaSFT-to-NL/chunks/[^/]+\.parquet", "predict_metasft_to_nl"),
    (r"results/[^/]+/answers/MetaSFT-NL/chunks/[^/]+\.parquet", "predict_metasft_nl"),
    (r"results/[^/]+/scores/[^/]+/chunks/[^/]+\.parquet", "score"),
    (r"results/[^/]+/(?:answers|scores)/[^/]+/[^/]+/[^/]+\.parquet", "pair_result"),
    (r"results/[^/]+/baselines/predictions\.parquet", "baselines"),
    (r"results/[^/]+/inverse/likelihoods/[^/]+\.parquet", "inverse_likelihoods"),
    (r"results/[^/]+/inverse/ranks\.parquet", "inverse"),
    (r"results/[^/]+/metrics/inverse\.csv", "inverse"),
    (r"results/[^/]+/plots/inverse_by_quadrant\.png", "inverse"),
    (r"results/[^/]+/metrics/[^/]+", "metrics"),
    (r"results/[^/]+/plots/nl_by_quadrant\.png", "nl_plots"),
    (r"results/[^/]+/plots/[^/]+\.png", "plots"),
    (r"results/[^/]+/run_info\.json", "run_info"),
]


def producer(path: str | os.PathLike) -> tuple[str, str] | None:
    """(rule, output) of the pipeline output holding `path` (a file, a rule's output folder or a file in one),
    or None for a path outside the results layout (a hub model, a user's own folder)."""
    text = Path(path).as_posix()
    for pattern, rule in _PRODUCERS:
        match = re.search(rf"(?:^|/)({pattern})(?:/|$)", text)
        if match:
            return rule, text[:match.end(1)]
    return None


def rebuild_hint(path: str | os.PathLike, options: str = "") -> str:
    """How to rebuild the output holding `path`: the rule that makes it and the exact command."""
    found = producer(path)
    output = found[1] if found else Path(path).as_posix()
    made_by = f"It is made by rule {found[0]}; rebuild" if found else "Rebuild"
    command = f"`snakemake --forcerun {output} {options}`" if options else \
        f"`snakemake --forcerun {output}` (with your usual --configfile/--profile options)"
    return f"{made_by} it (and what depends on it) with {command}, or delete {output} and run snakemake again."


def is_forced(output: str, *, forceall: bool, forcerun, targets) -> bool:
    """Whether a snakemake call rebuilds `output` anyway: --forceall, --forcerun naming it or the rule that makes
    it, or --force with it as a target (`targets`: the call's targets when --force was given, else empty)."""
    named = {os.path.normpath(t) for t in forcerun}
    made_by = producer(output)
    return forceall or (made_by is not None and made_by[0] in named) or \
        output in named | {os.path.normpath(t) for t in targets}

