"""Atomic writes: a reader (or a resumed run) never sees a half-written result. Checked reads: a missing,
truncated or damaged output stops the job with an error naming the file, the rule that makes it and how to
rebuild it (`metasft.pipeline.outputs`). Model folders carry manifests of their own (`metasft.models.manifest`)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import polars as pl

from metasft.pipeline.outputs import OutputError, rebuild_hint


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto `path` only if the block succeeds.

    Works for files and directories. The temporary lives in the same folder so the final
    `os.replace` is a rename on one filesystem.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.*.tmp"):  # left by a killed earlier attempt of this job
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    target = tmp / final.name
    try:
        yield target
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(target, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_checked(reader, path, kind: str, **kwargs) -> pl.DataFrame:
    """`reader(path)`, with a missing or truncated file reported by name with how to rebuild it."""
    try:
        return reader(path, **kwargs)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise OutputError(f"{path}: cannot read this {kind} file ({first_line(error)}). "
                          f"{rebuild_hint(path)}") from error


def read_parquet(path: str | os.PathLike, **kwargs) -> pl.DataFrame:
    return _read_checked(pl.read_parquet, path, "parquet", **kwargs)


def read_parquets(paths) -> pl.DataFrame:
    return pl.concat([read_parquet(p) for p in paths])


def read_csv(path: str | os.PathLike, **kwargs) -> pl.DataFrame:
    return _read_checked(pl.read_csv, path, "CSV", **kwargs)


def first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def write_parquet(frame: pl.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp)


def write_csv(frame: pl.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        frame.write_csv(tmp)


def write_json(obj, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:  # ValueError: JSONDecodeError, UnicodeDecodeError
        raise OutputError(f"{path}: cannot read this JSON file ({first_line(error)}). "
                          f"{rebuild_hint(path)}") from error


def pair_result(chunk_table, output, *, train_domain: str, eval_domain: str) -> None:
    """Stage `pair_result`: one (T, E) pair's rows of a chunk table of answers or scores."""
    table = read_parquet(chunk_table)
    write_parquet(table.filter((pl.col("train_domain") == train_domain) & (pl.col("eval_domain") == eval_domain)),
                  output)
