"""Benchmark a whole pipeline run: wall time and peak memory of the Snakemake process tree.

    python -m metasft.bench.pipeline [--configfile config/config.yaml] [--cores 2] [--keep] [--config replicates=3]

Runs `snakemake` from an empty results folder (a fresh run name, so existing results are untouched), samples
the resident memory of snakemake and all its jobs together every 0.2 s, and prints one line per figure.

It deletes only what it made: `results/<run>`, `logs/<run>` and `benchmarks/<run>` carry a marker file written
when the benchmark created them, and a folder without the marker (a real run's results) stops it before any work.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from metasft.pipeline.config import ROOT

PAGE = os.sysconf("SC_PAGE_SIZE")
MARKER = ".made-by-metasft-bench"
RUN_FOLDERS = ("results", "logs", "benchmarks")


class BenchError(ValueError):
    pass


def run_name_pattern() -> str:
    import yaml

    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    return schema["properties"]["run"]["pattern"]


def prepare_run_folders(run: str, root: Path = Path(".")) -> list[Path]:
    """Empty the benchmark's own folders for `run`, refusing a bad name or a folder the benchmark did not make."""
    import re

    if not re.fullmatch(run_name_pattern().strip("^$"), run):
        raise BenchError(f"--run {run!r} is not a run name (config/schema.yaml, key 'run': letters, digits, '_', "
                         "'.', '-', starting with a letter or digit)")
    folders = [root / kind / run for kind in RUN_FOLDERS]
    foreign = [f for f in folders if f.exists() and not (f / MARKER).exists()]
    if foreign:
        raise BenchError(f"--run {run}: {foreign[0]} holds results the benchmark did not make; it deletes only its "
                         "own folders, so choose another run name (or remove that folder yourself)")
    for folder in folders:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / MARKER).touch()
    return folders


def remove_own_folder(folder: Path) -> None:
    if (folder / MARKER).exists():
        shutil.rmtree(folder)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss_bytes(root: int) -> int:
    """Resident memory of `root` and all its descendants."""
    tree, total, stack = _children(), 0, [root]
    while stack:
        pid = stack.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
        stack += tree.get(pid, [])
    return total


def rule_times(benchmarks: Path) -> list[dict]:
    """Per rule, from the jobs' `benchmark:` files: jobs, summed and longest wall seconds, CPU seconds, and the
    largest max RSS of one job."""
    import csv

    rules: dict[str, dict] = {}
    for path in sorted(benchmarks.rglob("*.tsv")):
        parts = path.relative_to(benchmarks).parts
        # replicates/<i>/<rule>...: a replicate's jobs count with the same rule of the run itself
        rule = (parts[2] if parts[0] == "replicates" and len(parts) > 2 else parts[0]).removesuffix(".tsv")
        with open(path) as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                entry = rules.setdefault(rule, {"rule": rule, "jobs": 0, "seconds": 0.0, "longest": 0.0,
                                                "cpu_seconds": 0.0, "max_rss_mb": 0.0})
                entry["jobs"] += 1
                entry["seconds"] += float(row["s"])
                entry["longest"] = max(entry["longest"], float(row["s"]))
                entry["cpu_seconds"] += float(row["cpu_time"]) if row.get("cpu_time") not in (None, "", "-") else 0.0
                rss = row.get("max_rss")
                entry["max_rss_mb"] = max(entry["max_rss_mb"], float(rss) if rss not in (None, "", "-") else 0.0)
    return sorted(rules.values(), key=lambda r: -r["seconds"])


def snakemake_command(configfile: str, cores: int, run: str, overrides: list[str]) -> list[str]:
    """The benchmarked command: the run named `run`, with the user's config overrides after it."""
    if any(item.split("=", 1)[0].strip() == "run" for item in overrides):
        raise BenchError("--config run=... would bypass the benchmark's own folders; name the run with --run")
    return ["snakemake", "--cores", str(cores), "--configfile", configfile,
            "--config", f"run={run}", *overrides, "--quiet", "rules"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--run", default="bench",
                        help="run name (results/<run>/); emptied first if an earlier benchmark made it")
    parser.add_argument("--keep", action="store_true", help="keep results/<run>/ afterwards")
    parser.add_argument("--config", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides passed on to snakemake (e.g. replicates=3); run= is set by --run")
    args = parser.parse_args(argv)

    try:
        command = snakemake_command(args.configfile, args.cores, args.run, args.config)
        prepare_run_folders(args.run)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    started = time.monotonic()
    process = subprocess.Popen(command)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_bytes(process.pid))
        time.sleep(0.2)
    wall = time.monotonic() - started
    print(f"command: {' '.join(command)}")
    print("where the time goes (benchmark files; jobs of a rule may run side by side):")
    print(f"  {'rule':<22} {'jobs':>4} {'job_seconds':>11} {'longest_job':>11} {'cpu_seconds':>11} {'max_rss_mb':>10}")
    for row in rule_times(Path(f"benchmarks/{args.run}")):
        print(f"  {row['rule']:<22} {row['jobs']:>4} {row['seconds']:>11.1f} {row['longest']:>11.1f} "
              f"{row['cpu_seconds']:>11.1f} {row['max_rss_mb']:>10.0f}")
    print(f"exit_status: {process.returncode}")
    print(f"wall_seconds: {wall:.1f}")
    print(f"peak_memory_mb: {peak / 2**20:.0f}")
    if not args.keep:
        remove_own_folder(Path(f"results/{args.run}"))
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
