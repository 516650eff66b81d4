"""`metasft`, the user commands in one place (`python -m metasft` is the same): each subcommand is a module's own
command line (`metasft plan ...` is `python -m metasft.runs.plan ...`), so both spellings take the same options."""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module whose main(argv) it runs, what it does)
COMMANDS = {
    "ask": ("metasft.runs.ask", "predict what a fine-tune on new data will do, from a finished run's meta-model"),
    "plan": ("metasft.runs.plan", "jobs, GPU-hours, answers and API requests per rule of a config, against its budget"),
    "bench pipeline": ("metasft.bench.pipeline", "wall time and peak memory of a whole run, per rule"),
    "bench generation": ("metasft.bench.generation", "throughput of the sampling engine"),
    "bench metrics": ("metasft.bench.metrics", "time and memory of the analysis stages at paper scale"),
    "manifest": ("metasft.models.manifest", "check model folders against their manifests, or record them"),
    "cache": ("metasft.judging.cache", "entries, size and hit rate of a judge cache"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  metasft {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(["usage: metasft <command> [options]   (metasft <command> --help for its options)", "",
                      "commands:", *lines])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    words = 2 if argv[0] == "bench" else 1
    name = " ".join(argv[:words])
    if name not in COMMANDS:
        print(f"metasft: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    sys.argv[0] = f"metasft {name}"  # the subcommand's own --help and errors name it
    return module.main(argv[words:]) or 0
