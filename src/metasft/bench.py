"""Benchmark a whole pipeline run: wall time and peak memory of the Snakemake process tree.

    python -m metasft.bench [--configfile config/config.yaml] [--cores 2] [--keep]

Runs `snakemake` from an empty results folder (a fresh run name, so existing results are untouched), samples
the resident memory of snakemake and all its jobs together every 0.2 s, and prints one line per figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


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
        rule = path.relative_to(benchmarks).parts[0].removesuffix(".tsv")
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--run", default="bench", help="run name (results/<run>/), emptied first")
    parser.add_argument("--keep", action="store_true", help="keep results/<run>/ afterwards")
    args = parser.parse_args(argv)

    for folder in (f"results/{args.run}", f"logs/{args.run}", f"benchmarks/{args.run}"):
        shutil.rmtree(folder, ignore_errors=True)
    command = ["snakemake", "--cores", str(args.cores), "--configfile", args.configfile,
               "--config", f"run={args.run}", "--quiet", "rules"]
    started = time.monotonic()
    process = subprocess.Popen(command)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_bytes(process.pid))
        time.sleep(0.2)
    wall = time.monotonic() - started
    print(f"command: {' '.join(command)}")
    print("where the time goes (benchmark files; jobs of a rule may run side by side):")
    print(f"  {'rule':<16} {'jobs':>4} {'job_seconds':>11} {'longest_job':>11} {'cpu_seconds':>11} {'max_rss_mb':>10}")
    for row in rule_times(Path(f"benchmarks/{args.run}")):
        print(f"  {row['rule']:<16} {row['jobs']:>4} {row['seconds']:>11.1f} {row['longest']:>11.1f} "
              f"{row['cpu_seconds']:>11.1f} {row['max_rss_mb']:>10.0f}")
    print(f"exit_status: {process.returncode}")
    print(f"wall_seconds: {wall:.1f}")
    print(f"peak_memory_mb: {peak / 2**20:.0f}")
    if not args.keep:
        shutil.rmtree(f"results/{args.run}", ignore_errors=True)
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
