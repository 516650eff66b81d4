"""Which rule writes each output, and the command that rebuilds it."""

from __future__ import annotations

import os
import re
from pathlib import Path


class OutputError(RuntimeError):
    """A pipeline output is missing, unreadable or damaged; the message names it and how to rebuild it."""


# Which rule makes which output, and the output (file or folder) to force to rebuild it: the layout of
# rules/*.smk under results/<run>/ (RUN; tests/test_outputs.py checks it against the workflow's own summary).
_PRODUCERS = [
    (r"RUN/base_model", "pretrain_base"),
    (r"RUN/finetune/[^/]+", "finetune"),
    (r"RUN/meta/adapter", "meta_train"),
    (r"RUN/meta/metasft_train\.parquet", "meta_shards"),
    (r"RUN/meta_nl/adapter", "meta_train_nl"),
    (r"RUN/meta_nl/metasft_train\.parquet", "meta_shards_nl"),
    (r"RUN/suite/suite\.json", "suite"),
    (r"RUN/suite/generated/[^/]+\.yaml", "generate_suite"),
    (r"RUN/suite/descriptions\.json", "describe_domains"),
    (r"RUN/answers/golden/chunks/[^/]+\.parquet", "golden"),
    (r"RUN/answers/UntrainedICL/chunks/[^/]+\.parquet", "predict_icl"),
    (r"RUN/answers/MetaSFT/chunks/[^/]+\.parquet", "predict_metasft"),
    (r"RUN/answers/UntrainedNL/chunks/[^/]+\.parquet", "predict_nl"),
    (r"RUN/answers/MetaSFT-to-NL/chunks/[^/]+\.parquet", "predict_metasft_to_nl"),
    (r"RUN/answers/MetaSFT-NL/chunks/[^/]+\.parquet", "predict_metasft_nl"),
    (r"RUN/scores/[^/]+/chunks/[^/]+\.parquet", "score"),
    (r"RUN/(?:answers|scores)/[^/]+/[^/]+/[^/]+\.parquet", "pair_result"),
    (r"RUN/baselines/predictions\.parquet", "baselines"),
    (r"RUN/inverse/likelihoods/[^/]+\.parquet", "inverse_likelihoods"),
    (r"RUN/inverse/ranks\.parquet", "inverse"),
    (r"RUN/metrics/inverse\.csv", "inverse"),
    (r"RUN/plots/inverse_by_quadrant\.png", "inverse"),
    (r"RUN/metrics/[^/]+", "metrics"),
    (r"RUN/plots/nl_by_quadrant\.png", "nl_plots"),
    (r"RUN/plots/[^/]+\.png", "plots"),
    (r"RUN/run_info\.json", "run_info"),
]
# A run's outputs, and its replicates' (results/<run>/replicates/<i>/..., made by rule replicate<i>_<rule>).
_RUN = r"results/[^/]+(?:/replicates/(?P<replicate>\d+))?"
_COMBINED = (r"results/[^/]+/replicates/(?:metrics|comparisons)\.csv", "combine_replicates")


def producer(path: str | os.PathLike) -> tuple[str, str] | None:
    """(rule, output) of the pipeline output holding `path` (a file, a rule's output folder or a file in one),
    or None for a path outside the results layout (a hub model, a user's own folder)."""
    text = Path(path).as_posix()
    for pattern, rule in [_COMBINED, *_PRODUCERS]:
        match = re.search(rf"(?:^|/)({pattern.replace('RUN', _RUN)})(?:/|$)", text)
        if match:
            replicate = match.groupdict().get("replicate")
            return (f"replicate{replicate}_{rule}" if replicate else rule), text[:match.end(1)]
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

