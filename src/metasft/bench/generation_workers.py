"""The generation benchmark's paths, each run in its own process by `python -m metasft.bench.generation --worker`:
(a) `worker_per_pair`, (b) `worker_loop`, (c) `worker_engine`. Each reads the spec file the benchmark wrote and
prints one JSON line (tokens, seconds, load seconds, peak memory; the engine also its decode counters and model
bytes for the roofline)."""

from __future__ import annotations

import time
from pathlib import Path

from metasft.bench.roofline import model_bytes
from metasft.generation.requests import SamplingSettings, stop_token_ids
from metasft.pipeline.config import settings_from
from metasft.pipeline.seeds import derived_seed


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
    settings = _settings(spec, static_decode=spec["static_decode"])
    started = time.perf_counter()
    engine = HFEngine.load(spec["base"], spec["adapters"], settings, mixing=spec["mixing"])
    load = time.perf_counter() - started
    requests = [GenerationRequest(m, t, derived_seed(spec["seed"], t, e, qi), settings.samples_per_question)
                for t, e, questions in spec["pairs"] for qi, m in enumerate(_pair_prompts((t, e, questions)))]
    engine.generate(requests[:len(spec["pairs"][0][2])])  # warm-up (on CUDA with static_decode: the captures)
    engine.timed = True
    engine.stats = dict.fromkeys(engine.stats, 0)
    seconds, tokens = _timed(lambda: _tokens(engine.generate(requests)), 1)
    return {"tokens": tokens, "seconds": seconds, "load_seconds": load, "batch_tokens": settings.max_batch_tokens,
            **engine.stats, **model_bytes(engine), **_peak_memory()}


WORKERS = {"loop": worker_loop, "engine": worker_engine}
