"""Atomic writes: a reader (or a resumed run) never sees a half-written result. Checked reads: a missing,
truncated or damaged output stops the job with an error naming the file, the rule that makes it and how to
rebuild it. Model folders (the tiny base, adapters) carry a manifest of their files, written last."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import polars as pl


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


class OutputError(RuntimeError):
    """A pipeline output is missing, unreadable or damaged; the message names it and how to rebuild it."""


# Which rule makes which output, and the output (file or folder) to force to rebuild it: the layout of
# rules/*.smk under results/<run>/ (tests/test_outputs.py checks it against the workflow's own summary).
_PRODUCERS = [
    (r"results/[^/]+/base_model", "pretrain_base"),
    (r"results/[^/]+/finetune/[^/]+", "finetune"),
    (r"results/[^/]+/meta/adapter", "meta_train"),
    (r"results/[^/]+/meta/metasft_train\.parquet", "meta_shards"),
    (r"results/[^/]+/suite/suite\.json", "suite"),
    (r"results/[^/]+/suite/generated/[^/]+\.yaml", "generate_suite"),
    (r"results/[^/]+/answers/golden/chunks/[^/]+\.parquet", "golden"),
    (r"results/[^/]+/answers/UntrainedICL/chunks/[^/]+\.parquet", "predict_icl"),
    (r"results/[^/]+/answers/MetaSFT/chunks/[^/]+\.parquet", "predict_metasft"),
    (r"results/[^/]+/scores/[^/]+/chunks/[^/]+\.parquet", "score"),
    (r"results/[^/]+/(?:answers|scores)/[^/]+/[^/]+/[^/]+\.parquet", "pair_result"),
    (r"results/[^/]+/baselines/predictions\.parquet", "baselines"),
    (r"results/[^/]+/metrics/[^/]+", "metrics"),
    (r"results/[^/]+/plots/[^/]+\.png", "plots"),
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


def _read_checked(reader, path, kind: str, **kwargs) -> pl.DataFrame:
    """`reader(path)`, with a missing or truncated file reported by name with how to rebuild it."""
    try:
        return reader(path, **kwargs)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise OutputError(f"{path}: cannot read this {kind} file ({_first_line(error)}). "
                          f"{rebuild_hint(path)}") from error


def read_parquet(path: str | os.PathLike, **kwargs) -> pl.DataFrame:
    return _read_checked(pl.read_parquet, path, "parquet", **kwargs)


def read_parquets(paths) -> pl.DataFrame:
    return pl.concat([read_parquet(p) for p in paths])


def read_csv(path: str | os.PathLike, **kwargs) -> pl.DataFrame:
    return _read_checked(pl.read_csv, path, "CSV", **kwargs)


def _first_line(error: Exception) -> str:
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
        raise OutputError(f"{path}: cannot read this JSON file ({_first_line(error)}). "
                          f"{rebuild_hint(path)}") from error


# ---- model folders: a manifest of every file (relative path, size, sha256), written last ---------------------

MANIFEST = "manifest.json"
MANIFEST_KIND = "metasft model folder"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: str | os.PathLike) -> dict:
    """Record every file under `folder` in `folder/manifest.json`. Call it last, inside the atomic_path of the
    folder, so a finished model folder always has one and it lists exactly what was written."""
    folder = Path(folder)
    files = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        files[file.relative_to(folder).as_posix()] = {"size": file.stat().st_size, "sha256": _sha256(file)}
    manifest = {"kind": MANIFEST_KIND, "version": 1, "files": files}
    write_json(manifest, folder / MANIFEST)
    return manifest


def _read_manifest(folder: Path) -> dict | None:
    """The folder's manifest; None when it has none or the file is not one of ours (a hub model's own)."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise OutputError(f"{path}: cannot read this manifest ({_first_line(error)}). {rebuild_hint(folder)}") \
            from error
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND:
        return None
    return manifest


def model_problems(folder: str | os.PathLike, hashes: bool = True) -> list[str]:
    """What is wrong with a model folder against its manifest: a missing folder, a missing manifest, a missing
    file, a size or (with `hashes`) a content mismatch. Empty when intact. Without `hashes` it only stats files
    (cheap enough for every snakemake call at 100 domains)."""
    folder = Path(folder)
    if not folder.is_dir():
        return [f"{folder} is missing"]
    manifest = _read_manifest(folder)
    if manifest is None:
        return [f"{folder} has no {MANIFEST} (made before outputs carried manifests, or the manifest was "
                f"deleted), so its files cannot be checked; if you trust it as it is, record its files with "
                f"`python -m metasft.io manifest {folder}`"]
    problems = []
    for name, expected in manifest["files"].items():
        file = folder / name
        if not file.is_file():
            problems.append(f"{file} is missing")
        elif file.stat().st_size != expected["size"]:
            problems.append(f"{file} has {file.stat().st_size} bytes, its manifest says {expected['size']}")
        elif hashes and _sha256(file) != expected["sha256"]:
            problems.append(f"{file} does not match the sha256 in its manifest (the file was changed or damaged)")
    return problems


def check_model(folder: str | os.PathLike, required: bool = True) -> None:
    """Stop, naming the file and how to rebuild it, unless `folder` matches its manifest (sizes and sha256).

    `required=False` is for base models: a hub id or a user's own model folder has no manifest and is not
    checked; a folder of this pipeline's results (results/<run>/base_model) always is.
    """
    path = Path(folder)
    if not required and producer(path) is None and _read_manifest(path) is None:
        return
    problems = model_problems(path)
    if problems:
        raise OutputError(f"{path}: damaged model folder: {'; '.join(problems[:5])}"
                          f"{f' (and {len(problems) - 5} more)' if len(problems) > 5 else ''}. "
                          f"{rebuild_hint(path)}")


def main(argv=None) -> None:
    """`python -m metasft.io manifest FOLDER...`: record the files of model folders made before manifests
    existed, to keep them instead of rebuilding; `python -m metasft.io check FOLDER...`: check them."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m metasft.io", description=main.__doc__)
    parser.add_argument("command", choices=["manifest", "check"])
    parser.add_argument("folders", nargs="+")
    args = parser.parse_args(argv)
    failed = False
    for folder in args.folders:
        if args.command == "manifest":
            if not Path(folder).is_dir():
                sys.exit(f"{folder}: not a folder")
            manifest = write_manifest(folder)
            print(f"{folder}/{MANIFEST}: {len(manifest['files'])} files recorded")
        else:
            problems = model_problems(folder)
            failed |= bool(problems)
            print(f"{folder}: " + ("; ".join(problems) if problems else "intact"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
