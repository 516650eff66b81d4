"""Benchmark of answer generation: per-pair processes vs. an in-process loop vs. the engine.

    python -m metasft.bench.generation [--configfile config/config.yaml] [--adapters 6] [--pairs-per-adapter 12]
                               [--questions 8] [--samples 4] [--max-new-tokens 24] [--arch tiny|qwen3-4b]

Every path answers the same requests: `--adapters` train domains (LoRA adapters), each paired with
`--pairs-per-adapter` eval domains, `--questions` eval questions per pair, `--samples` samples per question,
at most `--max-new-tokens` new tokens (defaults: the config's golden-label sizes). Three paths, each run in
its own process so that their peak memories are separate:

  (a) per_pair_process: a fresh Python process per pair imports, loads the base and that pair's adapter, and
      calls `generate` once, as a one-job-per-pair rule would. `--per-pair-runs` pairs are timed (process
      start to exit) and the rate is scaled to all pairs.
  (b) in_process_loop: the base and all adapters loaded once; per pair `set_adapter` and one `generate` call.
  (c) engine: `metasft.generation.hf.HFEngine`, all requests in one call (mixed-adapter token-budget batches).

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

from metasft.generation.requests import SamplingSettings, stop_token_ids
from metasft.models.random import (
    ARCHS,
    build_random_adapters,
    build_random_model,
    project_tokenizer,
)
from metasft.pipeline.config import load_config, settings_from
from metasft.pipeline.seeds import derived_seed

SRC = Path(__file__).resolve().parents[2]


def _settings(spec: dict, **overrides):
    return settings_from(SamplingSettings, {**spec["generation"], **overrides}, "generation")


def _pair_prompts(pair) -> list[list[dict]]:
    return [[{"role": "user", "content": q}] for q in pair[2]]


def _peak_memory() -> dict:
    import torch

    peak = {"peak_rss_mb": 0.0}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak["peak_rss_mb"] = int(line.split()[1]) / 1024
    if torch.cuda.is_available():
        peak["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return peak


def _sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _tokens(answers) -> int:
    return sum(a["new_tokens"] for samples in answers for a in samples)


def reference_answers(model, tokenizer, prompts: list[list[dict]], settings: SamplingSettings,
                      seed: int) -> list[list[dict]]:
    """The plain `transformers.generate` path (one adapter, the active one; `num_return_sequences`): the
    reference that the engine is benchmarked against (paths a and b). Seeded once per call."""
    import torch

    from metasft.models.chat import encode_chat

    encoded = [encode_chat(tokenizer, p, add_generation_prompt=True) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: (len(encoded[i]), i))
    n = settings.samples_per_question
    per_batch = max(settings.batch_size // n, 1)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    stops = stop_token_ids(tokenizer, base.config, getattr(base, "generation_config", None))
    results: list[list[dict]] = [[] for _ in prompts]
    torch.manual_seed(seed)
    device = model.device
    tokenizer.padding_side = "left"
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    for start in range(0, len(order), per_batch):
        batch = order[start:start + per_batch]
        padded = tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt")
        with torch.inference_mode():
            output = model.generate(
                input_ids=padded["input_ids"].to(device), attention_mask=padded["attention_mask"].to(device),
                do_sample=not settings.greedy, temperature=None if settings.greedy else settings.temperature,
                top_p=None if settings.greedy else settings.top_p, max_new_tokens=settings.max_new_tokens,
                min_new_tokens=settings.min_new_tokens or None, num_return_sequences=n, pad_token_id=pad,
                eos_token_id=stops, top_k=None,
            )
        new_tokens = output[:, padded["input_ids"].shape[1]:].tolist()
        for row, tokens in enumerate(new_tokens):
            ended = next((j for j, t in enumerate(tokens) if t in stops), None)
            kept = tokens[:ended] if ended is not None else [t for t in tokens if t != pad]
            results[batch[row // n]].append({
                "answer": tokenizer.decode(kept, skip_special_tokens=True).strip(),
                "finished": ended is not None,
                "new_tokens": len(kept),
            })
    return results


def worker_per_pair(spec: dict, index: int) -> dict:
    """(a): what a one-job-per-pair rule does: import, load base + one adapter, one `generate` call."""
    from metasft.models.loading import configure_torch, load_with_adapters

    configure_torch(spec["threads"])
    train_domain, eval_domain, _ = pair = spec["pairs"][index]
    model, tokenizer = load_with_adapters(spec["base"], {train_domain: spec["adapters"][train_domain]})
    answers = reference_answers(model, tokenizer, _pair_prompts(pair), _settings(spec, batch_size=10**6),
                             derived_seed(spec["seed"], train_domain, eval_domain))
    _sync()
    return {"tokens": _tokens(answers), **_peak_memory()}


def _timed(run, repeats: int) -> tuple[float, int]:
    best, tokens = float("inf"), 0
    for _ in range(repeats):
        _sync()
        started = time.perf_counter()
        tokens = run()
        _sync()
        best = min(best, time.perf_counter() - started)
    return best, tokens


def worker_loop(spec: dict) -> dict:
    """(b): base and adapters loaded once; per pair `set_adapter` and one `generate` call."""
    from metasft.models.loading import configure_torch, load_with_adapters

    configure_torch(spec["threads"])
    started = time.perf_counter()
    model, tokenizer = load_with_adapters(spec["base"], spec["adapters"])
    load = time.perf_counter() - started
    settings = _settings(spec, batch_size=10**6)

    def run(pairs=spec["pairs"]):
        tokens = 0
        for train_domain, eval_domain, questions in pairs:
            model.set_adapter(train_domain)
            tokens += _tokens(reference_answers(model, tokenizer, _pair_prompts((train_domain, eval_domain, questions)),
                                                settings, derived_seed(spec["seed"], train_domain, eval_domain)))
        return tokens

    run(spec["pairs"][:1])  # warm-up
    seconds, tokens = _timed(run, 1)
    return {"tokens": tokens, "seconds": seconds, "load_seconds": load, **_peak_memory()}


def worker_engine(spec: dict) -> dict:
    """(c): the engine, every request of every pair in one call."""
    from metasft.generation.hf import HFEngine
    from metasft.generation.requests import GenerationRequest
    from metasft.models.loading import configure_torch

    configure_torch(spec["threads"])
    settings = _settings(spec)
    started = time.perf_counter()
    engine = HFEngine.load(spec["base"], spec["adapters"], settings)
    load = time.perf_counter() - started
    requests = [GenerationRequest(m, t, derived_seed(spec["seed"], t, e, qi), settings.samples_per_question)
                for t, e, questions in spec["pairs"] for qi, m in enumerate(_pair_prompts((t, e, questions)))]
    engine.generate(requests[:len(spec["pairs"][0][2])])  # warm-up
    seconds, tokens = _timed(lambda: _tokens(engine.generate(requests)), 1)
    return {"tokens": tokens, "seconds": seconds, "load_seconds": load, "batch_tokens": settings.max_batch_tokens,
            **_peak_memory()}


WORKERS = {"loop": worker_loop, "engine": worker_engine}


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
    train = [domains[i % len(domains)] for i in range(n_adapters)]
    if len(set(train)) < n_adapters:
        raise SystemExit(f"--adapters {n_adapters}: the suite has only {len(domains)} domains")
    evals = [domains[i % len(domains)] for i in range(n_pairs)]
    pairs = [(t, e, list(suite.domains[e].eval_questions[:questions])) for t in train for e in evals]

    trained = _trained_paths(args.run, train) if args.arch == "tiny" and args.model != "random" else None
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
            "generation": generation, "threads": args.threads, "seed": config["seed"], "repeats": args.repeats}
    return spec, described


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
        print(f"requests: {len(spec['adapters'])} adapters x {n_pairs // len(spec['adapters'])} pairs each, "
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
        # (b) and (c) alternate, `--repeats` processes each, so that a load spike from elsewhere hits both alike;
        # the best run of each counts
        best: dict[str, dict] = {}
        loads: dict[str, list[str]] = {}
        for _ in range(args.repeats):
            for key, worker in (("b", "loop"), ("c", "engine")):
                if key in args.paths:
                    before = _load()
                    result, _ = _run_worker(spec_path, "--worker", worker)
                    loads.setdefault(key, []).append(f"{before} -> {_load()}")
                    print(f"run {worker}: {result['tokens'] / result['seconds']:.1f} tokens/s", flush=True)
                    if key not in best or result["seconds"] < best[key]["seconds"]:
                        best[key] = result
        for key, name in (("b", "in_process_loop"), ("c", "engine")):
            if key not in best:
                continue
            result = best[key]
            rates[key] = result["tokens"] / result["seconds"]
            print(f"{name}_tokens: {result['tokens']}")
            print(f"{name}_seconds: {result['seconds']:.2f}")
            print(f"{name}_load_model_seconds: {result['load_seconds']:.2f}")
            print(f"{name}_tokens_per_s: {rates[key]:.1f}")
            print(f"{name}_peak_memory_mb: {result['peak_rss_mb']:.0f}")
            if "peak_gpu_mb" in result:
                print(f"{name}_peak_gpu_memory_mb: {result['peak_gpu_mb']:.0f}")
            print(f"{name}_load_average: {'; '.join(loads[key])}")
        if "c" in rates and "a" in rates:
            print(f"speedup_vs_per_pair_process: {rates['c'] / rates['a']:.1f}")
        if "c" in rates and "b" in rates:
            print(f"speedup_vs_in_process_loop: {rates['c'] / rates['b']:.2f}")
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
