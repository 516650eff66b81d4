"""What every job script does first: log to its log file, then any fault injected for tests."""

from __future__ import annotations

from pathlib import Path


def start_job(log: str, rule: str, wildcards: list[str], config: dict) -> None:
    """What every job script does first: log to its log file, then any fault injected by config for tests."""
    log_to_file(log)
    inject_fault(rule, wildcards, config)


class InjectedFault(RuntimeError):
    """Raised on a job's first attempt when config testing.fail_once names its rule."""


def inject_fault(rule: str, wildcards: list[str], config: dict) -> None:
    """Fail the first attempt of rules listed in config testing.fail_once (a marker file records the attempt)."""
    if rule not in config.get("testing", {}).get("fail_once", []):
        return
    marker = Path(f"results/{config['run']}/.faults") / "_".join([rule, *map(str, wildcards)])
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        raise InjectedFault(f"injected failure of rule {rule} (first attempt; config testing.fail_once)")


def log_to_file(path) -> None:
    """Send this job's logging, warnings and library prints to its Snakemake log file."""
    import logging
    import sys

    handle = open(path, "a", buffering=1)
    sys.stdout = sys.stderr = handle
    logging.basicConfig(stream=handle, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
