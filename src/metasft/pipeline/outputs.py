"""Which rule writes each output, the command that rebuilds it, and a cheap check of a finished run's tables."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

from metasft.sources import SAMPLED


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
    *((rf"RUN/answers/{re.escape(source.name)}/chunks/[^/]+\.parquet", source.rule) for source in SAMPLED),
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
    (r"RUN/ask/[^/]+/finetune", "ask_finetune"),
    (r"RUN/ask/[^/]+/golden\.parquet", "ask_golden"),
    (r"RUN/ask/[^/]+/golden_scores\.parquet", "ask_score"),
]
# Where a run keeps each meta-model's adapter (rules meta_train, meta_train_nl), by the name sources give it.
META_ADAPTER_FOLDERS = {"MetaSFT": "meta/adapter", "MetaSFT-NL": "meta_nl/adapter"}
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


def damaged_outputs_message(damaged: dict[str, list[str]], options: str = "", kind: str = "model output") -> str:
    """One line per damaged output: what is wrong and the exact command that rebuilds it (`options`: the
    --configfile options of this call, repeated in the command)."""
    lines = []
    for output, problems in damaged.items():
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        lines.append(f"{output}: {'; '.join(problems[:5])}{more}. {rebuild_hint(output, options)}")
    return "\n".join([f"damaged {kind} (it exists, so snakemake alone would not rebuild it):", *lines])


def is_forced(output: str, *, forceall: bool, forcerun, targets) -> bool:
    """Whether a snakemake call rebuilds `output` anyway: --forceall, --forcerun naming it or the rule that makes
    it, or --force with it as a target (`targets`: the call's targets when --force was given, else empty)."""
    named = {os.path.normpath(t) for t in forcerun}
    made_by = producer(output)
    return forceall or (made_by is not None and made_by[0] in named) or \
        output in named | {os.path.normpath(t) for t in targets}



# A damaged table of a finished run: its file exists, so snakemake alone would plan nothing for it and the first job
# that reads it would fail. These checks read a few bytes (parquet) or a small file (CSV, JSON), so the workflow can
# run them over a whole run at DAG time; model folders have manifests of their own (metasft.models.manifest).
_PARQUET_MAGIC = b"PAR1"
MANIFEST = "manifest.json"  # a model folder's record of its files (metasft.models.manifest)


def _parquet_problem(path: Path, size: int) -> str | None:
    """Parquet's frame: PAR1, the pages, the footer, its 4-byte length, PAR1. A truncated or overwritten file
    loses the closing magic or the footer length stops fitting the file."""
    if size < 12:
        return f"{size} bytes, too short for a parquet file"
    with open(path, "rb") as handle:
        head = handle.read(4)
        handle.seek(-8, os.SEEK_END)
        tail = handle.read(8)
    footer = int.from_bytes(tail[:4], "little")
    if head != _PARQUET_MAGIC or tail[4:] != _PARQUET_MAGIC:
        return "not a complete parquet file (its first or last 4 bytes are not PAR1: truncated or overwritten)"
    if not 0 < footer <= size - 12:
        return f"not a complete parquet file (its footer length {footer} does not fit its {size} bytes)"
    return None


def _csv_problem(path: Path, size: int) -> str | None:
    """The pipeline's CSV tables end with a newline and every row has the header's fields; a cut-off file fails
    one or the other unless it was cut exactly at a line's end."""
    data = path.read_bytes()
    if not data:
        return "empty (a CSV table has at least its header)"
    if not data.endswith(b"\n"):
        return "its last line is cut off (no final newline)"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline="")))  # quoted newlines
    ragged = next((i for i, row in enumerate(rows, 1) if len(row) != len(rows[0])), None)
    if ragged is not None:
        return f"line {ragged} has {len(rows[ragged - 1])} fields, the header {len(rows[0])}"
    return None


def _json_problem(path: Path, size: int) -> str | None:
    try:
        json.loads(path.read_bytes())
    except ValueError as error:
        return f"not valid JSON ({str(error).splitlines()[0]})"
    return None


_TABLE_CHECKS = {".parquet": _parquet_problem, ".csv": _csv_problem, ".json": _json_problem}


def table_problem(path: str | os.PathLike) -> str | None:
    """What is wrong with a parquet, CSV or JSON output, by the cheap checks above; None when it looks whole."""
    path = Path(path)
    try:
        size = path.stat().st_size
        return _TABLE_CHECKS[path.suffix](path, size)
    except OSError as error:
        return f"cannot be read ({type(error).__name__}: {error.strerror})"


def damaged_tables(folder: str | os.PathLike) -> dict[str, str]:
    """{file: problem} for every damaged parquet, CSV or JSON output of the pipeline under `folder` (a run's
    results, replicates included). Model folders (they hold a manifest), a killed job's temporaries (hidden
    folders) and files the pipeline does not make (producer None) are left out."""
    damaged = {}
    for root, folders, files in os.walk(folder):
        if MANIFEST in files:
            folders[:] = []
            continue
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(files):
            path = Path(root, name)
            if path.suffix in _TABLE_CHECKS and not name.startswith(".") and producer(path) is not None:
                problem = table_problem(path)
                if problem:
                    damaged[path.as_posix()] = problem
    return damaged
