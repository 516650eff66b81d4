"""Model-folder manifests: the size and sha256 of every file, written last, checked before loading."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from metasft.pipeline.io import first_line, write_json
from metasft.pipeline.outputs import MANIFEST, OutputError, producer, rebuild_hint

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
        raise OutputError(f"{path}: cannot read this manifest ({first_line(error)}). {rebuild_hint(folder)}") \
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
                f"`python -m metasft.models.manifest write {folder}`"]
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
    """`python -m metasft.models.manifest write FOLDER...`: record the files of model folders made before manifests
    existed, to keep them instead of rebuilding; `python -m metasft.models.manifest check FOLDER...`: check them."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m metasft.models.manifest", description=main.__doc__)
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("folders", nargs="+")
    args = parser.parse_args(argv)
    failed = False
    for folder in args.folders:
        if args.command == "write":
            if not Path(folder).is_dir():
                sys.exit(f"{folder}: not a folder")
            manifest = write_manifest(folder)
            print(f"{folder}/{MANIFEST}: {len(manifest['files'])} files recorded")
        else:
            problems = model_problems(folder)
            failed |= bool(problems)
            print(f"{folder}: " + ("; ".join(problems) if problems else "intact"))
    sys.exit(1 if failed else 0)


def output_problems(output: str, members=("",)) -> list[str]:
    """What is wrong with `output`, a model output of the pipeline (a model folder, or a folder holding one model
    folder per member, as a finetune chunk does), by a cheap check (stat, no hashing) against each manifest; empty
    when it is intact or not made yet."""
    if not os.path.exists(output):
        return []
    return [p for member in members for p in model_problems(Path(output, member), hashes=False)]


if __name__ == "__main__":
    main()
