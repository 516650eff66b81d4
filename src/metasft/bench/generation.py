"""Benchmark of answer generation: per-pair processes vs. an in-process loop vs. the engine.

    python -m metasft.bench.generation [--configfile config/config.yaml] [--adapters 6] [--pairs-per-adapter 12]
                               [--questions 8] [--samples 4] [--max-new-tokens 24] [--arch tiny|qwen3-4b]
                               [--mixing stacked|segments|peft] [--compare-mixing segments] [--static-decode]
                               [--adapter-counts 1,6,16] [--bandwidth-gbs 3350]

Every path answers the same requests: `--adapters` train domains (LoRA adapters), each paired with
`--pairs-per-adapter` eval domains, `--questions` eval questions per pair, `--samples` samples per question,
at most `--max-new-tokens` new tokens (defaults: the config's golden-label sizes). Three paths, each run in
its own process so that their peak memories are separate:

  (a) per_pair_process: a fresh Python process per pair imports, loads the base and that pair's adapter, and
      calls `generate` once, as a one-job-per-pair rule would. `--per-pair-runs` pairs are timed (process
      start to exit) and the rate is scaled to all pairs.
  (b) in_process_loop: the base and all adapters loaded once; per pair `set_adapter` and one `generate` call.
  (c) engine: `metasft.generation.hf.HFEngine`, all requests in one call (mixed-adapter token-budget batches).

The paths' code is `metasft.bench.generation_workers`, the roofline figures `metasft.bench.roofline`.

`--compare-mixing` adds (c2), the engine with another mixed-adapter path, alternating with (b) and (c);
`--adapter-counts 1,6,16` runs only the engine, once per count, on the same sequences (pair i served by adapter
i mod count). For the engine it prints ms per decode step, rows per step, bytes a step must read (every weight once,
plus the keys and values of the cached positions its rows attend over) and, where the memory bandwidth is known
(CUDA cards by name, or `--bandwidth-gbs`), the fraction of that bandwidth roofline the step reaches.

Rates are generated tokens (answer tokens, stop token excluded) per second of generation; (b) and (c) exclude
the one model load (printed separately); each runs after a warm-up in `--repeats` processes, alternating (b), (c),
and the fastest of each counts (the load average around each is printed: the machine may be shared). Peak
memory is each process's peak resident set (and peak GPU memory on CUDA).

The model: `--model trained` uses the pipeline's tiny model and its ObjectSFT adapters
(`results/<run>/base_model`, `results/<run>/finetune/`, from a `snakemake` run); `--model random` builds a
randomly initialised model (`--arch tiny`: the config's tiny shape; `--arch qwen3-4b`: Qwen3-4B's shape) with
random LoRA adapters, no download needed. `auto` (default) takes `trained` when it exists. On random weights
answer lengths would depend on the weights, so `--arch qwen3-4b` defaults `--min-new-tokens` to
`--max-new-tokens`: every answer is exactly that long.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from metasft.bench.generation_workers import WORKERS, worker_per_pair
from metasft.bench.roofline import decode_figures, device_bandwidth
from metasft.generation.lora import MIXING
from metasft.models.random import (
    ARCHS,
    build_random_adapters,
    build_random_model,
    project_tokenizer,
)
from metasft.pipeline.config import load_config

SRC = Path(__file__).resolve().parents[2]


def with_adapters(spec: dict, count: int) -> dict:
    """The spec's requests served by its first `count` adapters (pair i by adapter i mod count): the same sequences,
    so rates for different adapter counts compare."""
    train = list(spec["adapters"])[:count]
    pairs = [(train[i % count], e, questions) for i, (_, e, questions) in enumerate(spec["pairs"])]
    return {**spec, "adapters": {t: spec["adapters"][t] for t in train}, "pairs": pairs}




def _run_worker(spec_path: Path, *args: str) -> tuple[dict, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p),
           "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "metasft.bench.generation", "--spec", str(spec_path), *args], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"worker {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def _trained_paths(run: str, domains: list[str]) -> tuple[Path, dict[str, Path]] | None:
    base = Path("results") / run / "base_model"
    adapters = {}
    for domain in domains:
        found = sorted(Path("results", run, "finetune").glob(f"*/{domain}/adapter_model.safetensors"))
        if not found:
            return None
        adapters[domain] = found[0].parent
    return (base, adapters) if (base / "config.json").exists() else None


def prepare(args, workdir: Path) -> tuple[dict, str]:
    """The model, adapters and requests every path answers, as a spec file the workers read."""
    import torch

    from metasft.suites.load import load_suite

    config = load_config([args.configfile])  # as the workflow sees it: validated, the schema's defaults filled
    generation = {**config["generation"]}
    suite = load_suite(config["suite"]["path"]).subset(config["suite"].get("domains"))
    domains = list(suite.domains)
    n_adapters = args.adapters or generation["domains_per_job"]
    n_pairs = args.pairs_per_adapter or len(domains)
    questions = args.questions or generation["eval_questions_per_domain"]
    built = max([n_adapters, *adapter_counts(args)])  # a sweep serves the same requests with up to this many
    # a random model's adapters need no domain: beyond the suite's domains they are numbered copies of the names
    train = [domains[i] if i < len(domains) else f"{domains[i % len(domains)]}_{i // len(domains)}"
             for i in range(built)]
    if built > len(domains) and args.model == "trained":
        raise SystemExit(f"--adapters/--adapter-counts {built}: the suite has only {len(domains)} trained domains")
    evals = [domains[i % len(domains)] for i in range(n_pairs)]
    pairs = [(t, e, list(suite.domains[e].eval_questions[:questions])) for t in train[:n_adapters] for e in evals]

    trained = (_trained_paths(args.run, train) if args.arch == "tiny" and args.model != "random"
               and built <= len(domains) else None)
    if args.model == "trained" and trained is None:
        raise SystemExit(f"--model trained: no results/{args.run}/base_model with adapters for {', '.join(train)}; "
                         f"run snakemake first or use --model random")
    if trained is not None:
        base, adapters = trained
        described = f"trained tiny model and ObjectSFT adapters of results/{args.run}"
    else:
        texts = [text for d in suite.domains.values() for pair in d.train for text in pair]
        tokenizer = project_tokenizer(texts, Path("results") / args.run / "base_model")
        if args.arch == "tiny":
            arch = {key: config["tiny"][key] for key in ("hidden_size", "num_hidden_layers", "intermediate_size",
                                                         "num_attention_heads", "num_key_value_heads",
                                                         "max_position_embeddings")}
        else:
            arch = dict(ARCHS[args.arch])
        if args.num_hidden_layers:
            arch["num_hidden_layers"] = args.num_hidden_layers
        gpu = torch.cuda.is_available() and args.arch != "tiny"
        base = build_random_model(workdir / "base", tokenizer, arch, seed=config["seed"],
                                  dtype=torch.bfloat16 if gpu else None)
        adapters = build_random_adapters(base, train, workdir / "adapters", seed=config["seed"])
        described = f"random {args.arch} model ({arch['num_hidden_layers']} layers, hidden {arch['hidden_size']}) " \
                    f"with random LoRA adapters"
    max_new = args.max_new_tokens or generation["max_new_tokens"]
    min_new = args.min_new_tokens if args.min_new_tokens is not None else (max_new if args.arch != "tiny" else 0)
    generation.update(samples_per_question=args.samples or generation["samples_per_question"],
                      max_new_tokens=max_new, min_new_tokens=min_new)
    if args.max_batch_tokens:
        generation["max_batch_tokens"] = args.max_batch_tokens
    if args.batch_size:
        generation["batch_size"] = args.batch_size
    spec = {"base": str(base), "adapters": {k: str(v) for k, v in adapters.items()}, "pairs": pairs,
            "generation": generation, "threads": args.threads, "seed": config["seed"], "repeats": args.repeats,
            "mixing": args.mixing, "static_decode": args.static_decode}
    return spec, described


def adapter_counts(args) -> list[int]:
    return [int(c) for c in args.adapter_counts.split(",")] if args.adapter_counts else []


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--run", default="default", help="results/<run>/ holding the trained tiny model")
    parser.add_argument("--model", choices=["auto", "trained", "random"], default="auto")
    parser.add_argument("--arch", choices=["tiny", *ARCHS], default="tiny")
    parser.add_argument("--num-hidden-layers", type=int, help="override the random model's depth (smoke tests)")
    parser.add_argument("--adapters", type=int, help="train domains (adapters); default generation.domains_per_job")
    parser.add_argument("--pairs-per-adapter", type=int, help="eval domains per adapter; default: the suite's")
    parser.add_argument("--questions", type=int, help="default generation.eval_questions_per_domain")
    parser.add_argument("--samples", type=int, help="default generation.samples_per_question")
    parser.add_argument("--max-new-tokens", type=int, help="default generation.max_new_tokens")
    parser.add_argument("--min-new-tokens", type=int, help="default 0 (tiny), max-new-tokens (other archs)")
    parser.add_argument("--max-batch-tokens", type=int, help="engine token budget; default the config's")
    parser.add_argument("--batch-size", type=int, help="engine rows per batch at most; default the config's")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of every path")
    parser.add_argument("--per-pair-runs", type=int, default=3, help="pairs timed for the per-pair-process path")
    parser.add_argument("--repeats", type=int, default=3, help="processes of (b) and (c), alternating; the best counts")
    parser.add_argument("--paths", default="abc", help="which of a, b, c to run")
    parser.add_argument("--mixing", choices=MIXING, default="stacked",
                        help="the engine's mixed-adapter LoRA path (c)")
    parser.add_argument("--compare-mixing", choices=MIXING,
                        help="also run the engine with this mixing, alternating with the others (c2)")
    parser.add_argument("--static-decode", action="store_true", help="the engine with generation.static_decode")
    parser.add_argument("--adapter-counts", help="engine only: serve the same requests with each of these numbers "
                                                  "of adapters, e.g. 1,6,16 (pair i by adapter i mod count)")
    parser.add_argument("--bandwidth-gbs", type=float,
                        help="memory bandwidth for the roofline fraction (default: known CUDA cards by name)")
    parser.add_argument("--workdir", help="keep the generated model and spec here (default: a temporary folder)")
    parser.add_argument("--worker", choices=["pair", *WORKERS], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--pair", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        spec = json.loads(Path(args.spec).read_text())
        result = worker_per_pair(spec, args.pair) if args.worker == "pair" else WORKERS[args.worker](spec)
        print(json.dumps(result))
        return 0

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-generation-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        spec, described = prepare(args, workdir)
        spec_path = workdir / "spec.json"
        spec_path.write_text(json.dumps(spec))
        g = spec["generation"]
        n_pairs = len(spec["pairs"])
        print(f"model: {described}")
        n_adapters = len({t for t, _, _ in spec["pairs"]})
        print(f"requests: {n_adapters} adapters x {n_pairs // n_adapters} pairs each, "
              f"{len(spec['pairs'][0][2])} questions x {g['samples_per_question']} samples per pair, "
              f"max_new_tokens {g['max_new_tokens']}, min_new_tokens {g['min_new_tokens']}, "
              f"{n_pairs * len(spec['pairs'][0][2]) * g['samples_per_question']} sequences; threads {args.threads}")
        rates = {}
        if "a" in args.paths:
            load_before, tokens, wall, peak, gpu = _load(), 0, 0.0, 0.0, None
            runs = min(args.per_pair_runs, n_pairs)
            for index in range(runs):
                result, seconds = _run_worker(spec_path, "--worker", "pair", "--pair", str(index))
                tokens, wall, peak = tokens + result["tokens"], wall + seconds, max(peak, result["peak_rss_mb"])
                gpu = max(gpu or 0.0, result.get("peak_gpu_mb", 0.0)) if "peak_gpu_mb" in result else gpu
            rates["a"] = tokens / wall
            print(f"per_pair_process_pairs_timed: {runs} of {n_pairs}")
            print(f"per_pair_process_seconds_per_pair: {wall / runs:.2f}")
            print(f"per_pair_process_estimated_total_seconds: {wall / runs * n_pairs:.1f}")
            print(f"per_pair_process_tokens_per_s: {rates['a']:.1f}")
            print(f"per_pair_process_peak_memory_mb: {peak:.0f}")
            if gpu is not None:
                print(f"per_pair_process_peak_gpu_memory_mb: {gpu:.0f}")
            print(f"per_pair_process_load_average: {load_before} -> {_load()}")
        bandwidth = device_bandwidth(args.bandwidth_gbs)
        # (b), (c) and (c2) alternate, `--repeats` processes each, so that a load spike from elsewhere hits all
        # alike; the best run of each counts. A sweep over adapter counts runs the engine once per count instead.
        counts = adapter_counts(args)
        workers = [("b", "in_process_loop", "loop", spec_path), ("c", "engine", "engine", spec_path)]
        if counts:
            workers = []
            for count in counts:
                path = workdir / f"spec_{count}.json"
                path.write_text(json.dumps(with_adapters(spec, count)))
                workers.append((f"c{count}", f"adapters_{count}_engine", "engine", path))
        elif args.compare_mixing:
            path = workdir / "spec_compare.json"
            path.write_text(json.dumps({**spec, "mixing": args.compare_mixing}))
            workers.append(("c2", f"engine_{args.compare_mixing}", "engine", path))
        best: dict[str, dict] = {}
        loads: dict[str, list[str]] = {}
        for _ in range(args.repeats):
            for key, name, worker, path in workers:
                if key[0] in args.paths:
                    before = _load()
                    result, _ = _run_worker(path, "--worker", worker)
                    loads.setdefault(key, []).append(f"{before} -> {_load()}")
                    print(f"run {name}: {result['tokens'] / result['seconds']:.1f} tokens/s", flush=True)
                    if key not in best or result["seconds"] < best[key]["seconds"]:
                        best[key] = result
        for key, name, _, _ in workers:
            if key not in best:
                continue
            result = best[key]
            rates[key] = result["tokens"] / result["seconds"]
            print(f"{name}_tokens: {result['tokens']}")
            print(f"{name}_seconds: {result['seconds']:.2f}")
            print(f"{name}_load_model_seconds: {result['load_seconds']:.2f}")
            print(f"{name}_tokens_per_s: {rates[key]:.1f}")
            for figure, value in decode_figures(result, bandwidth).items():
                print(f"{name}_{figure}: {value:.4g}" if figure != "bytes_per_decode_step" else
                      f"{name}_{figure}: {value:.4e}")
            print(f"{name}_peak_memory_mb: {result['peak_rss_mb']:.0f}")
            if "peak_gpu_mb" in result:
                print(f"{name}_peak_gpu_memory_mb: {result['peak_gpu_mb']:.0f}")
            print(f"{name}_load_average: {'; '.join(loads[key])}")
        if bandwidth is None and any(k[0] == "c" for k in best):
            print("roofline_fraction: n/a (unknown memory bandwidth: pass --bandwidth-gbs)")
        for key, label in (("c", ""), ("c2", f"_{args.compare_mixing}")):
            if key in rates and "a" in rates:
                print(f"speedup{label}_vs_per_pair_process: {rates[key] / rates['a']:.1f}")
            if key in rates and "b" in rates:
                print(f"speedup{label}_vs_in_process_loop: {rates[key] / rates['b']:.2f}")
        if "c" in rates and "c2" in rates:
            print(f"engine_{args.mixing}_over_{args.compare_mixing}: {rates['c'] / rates['c2']:.2f}")
        for before, count in zip(counts, counts[1:]):
            if f"c{count}" in rates and f"c{before}" in rates:
                print(f"rate_{count}_over_{before}_adapters: {rates[f'c{count}'] / rates[f'c{before}']:.2f}")
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
