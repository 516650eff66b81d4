"""The generation engine shared by golden labels, UntrainedICL and MetaSFT: many adapters, one pass.

A job hands the engine all its requests at once: (chat prompt, adapter name or None, seed, number of samples).
The engine returns, per request, that many answers as dicts (answer, finished, new_tokens). Two backends, chosen
by `generation.backend`:

- `hf` (default; CPU and GPU): one copy of the base model with every adapter of the job loaded into one
  `PeftModel`. Requests are sorted by prompt length and cut into batches by a token budget
  (`max_batch_tokens` = rows x (longest prompt + max_new_tokens), at most `batch_size` rows); a batch mixes
  adapters through stacked LoRA, every adapter's LoRA in one computation per layer (`metasft.generation.lora`).
  Each prompt is prefilled once and its KV cache copied for its samples; a hand-written decode loop then steps
  the batch, drops finished rows from the cache as they accumulate (or, with `generation.static_decode`, runs
  fixed-shape steps over a preallocated cache: `metasft.generation.static`), and draws each row's token from that
  row's own seeded uniforms (inverse-CDF sampling), so an answer depends on its request, not on what else shares
  its batch or job.
- `vllm` (optional extra, GPU): `metasft.generation.vllm`, one `LoRARequest` per request and `SamplingParams(n=...)`.

Importing this module needs neither torch nor vllm.
"""

from __future__ import annotations

import contextlib
import inspect

from metasft.generation.lora import MIXING, SegmentedLoRA, StackedLoRA
from metasft.generation.requests import (
    BASE,
    GenerationRequest,
    SamplingSettings,
    encode_prompts,
    stop_token_ids,
)
from metasft.generation.sampling import (
    choose_tokens,
    plan_batches,
    row_seed,
    row_uniforms,
)


class HFEngine:
    """The `hf` backend: a transformers model (optionally a `PeftModel` holding several adapters)."""

    def __init__(self, model, tokenizer, settings: SamplingSettings, merged: tuple[str, ...] = (),
                 mixing: str = "stacked"):
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        self.merged = set(merged)  # adapters merged into the weights: requests for them run as the base
        self.adapters = set(getattr(model, "peft_config", {}) or {}) - self.merged
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.stop_ids = stop_token_ids(tokenizer, base.config, getattr(base, "generation_config", None))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.stop_ids[0]
        self.mask_4d = getattr(base.config, "_attn_implementation", None) == "sdpa"
        # transformers renamed the forward's `past_key_values` to `cache` (5.2x); pass whichever it takes
        self.cache_kwarg = "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"
        # How a batch that mixes adapters runs: "stacked" (every adapter's LoRA in one computation per layer),
        # "segments" (rows grouped by adapter, each adapter's LoRA applied to its contiguous slice) or "peft"
        # (peft's `adapter_names`); the first two fall back to peft for LoRA variants.
        if mixing not in MIXING:
            raise ValueError(f"mixing must be one of {', '.join(MIXING)}, not {mixing!r}")
        self.segments = SegmentedLoRA(model) if mixing == "segments" and self.adapters else None
        if self.segments is not None and not self.segments.supported:
            self.segments = None
        self.stacked = StackedLoRA(model) if mixing == "stacked" and self.adapters else None
        if self.stacked is not None and not self.stacked.supported:
            self.stacked = None
        self._gated_names = None  # the row names the stacked gates hold
        self.base_model = base
        # generation.static_decode: preallocated cache and fixed-shape steps (CUDA graphs on CUDA), see .static
        self.static = None
        if settings.static_decode:
            from metasft.generation.static import StaticDecoder

            self.static = StaticDecoder(self)
        # Counters of the decode work (benchmarks); `timed` adds synchronised prefill/decode seconds (slower on CUDA).
        self.timed = False
        self.stats = dict.fromkeys(("decode_steps", "row_steps", "kv_position_reads", "prefill_seconds",
                                    "decode_seconds"), 0)

    @classmethod
    def load(cls, base_model, adapters: dict, settings: SamplingSettings, merge: bool = False,
             mixing: str = "stacked", chat: dict | None = None) -> "HFEngine":
        """Base model once, every adapter into one PeftModel; `merge` folds a single adapter into the weights
        (fastest when a job only ever uses that adapter, e.g. MetaSFT)."""
        from metasft.models.loading import load_with_adapters

        model, tokenizer = load_with_adapters(base_model, adapters, chat)
        merged: tuple[str, ...] = ()
        if merge and len(adapters) == 1:
            merged = tuple(adapters)
            model = model.merge_and_unload()
            model.eval()
        return cls(model, tokenizer, settings, merged, mixing)

    def generate(self, requests: list[GenerationRequest]) -> list[list[dict]]:
        """Per request, its `n` answers as dicts (answer, finished, new_tokens), in sample order."""
        return [[self._answer(tokens) for tokens in samples] for samples in self.generate_tokens(requests)]

    def generate_tokens(self, requests: list[GenerationRequest]) -> list[list[list[int]]]:
        """Per request and sample, the new token ids (ending with the stop token when one was drawn)."""
        for request in requests:
            if request.adapter is not None and request.adapter not in self.adapters | self.merged:
                raise KeyError(f"adapter {request.adapter!r} is not loaded (have: {sorted(self.adapters)})")
        encoded = encode_prompts(self.tokenizer, requests)
        s = self.settings
        batches = plan_batches([len(e) for e in encoded], [r.n for r in requests], s.max_new_tokens,
                               s.max_batch_tokens, s.batch_size)
        results: list[list[list[int]]] = [[] for _ in requests]
        rank = {name: k for k, name in enumerate(sorted({self._adapter_name(r) for r in requests}))}
        for batch in batches:
            batch = sorted(batch, key=lambda i: (rank[self._adapter_name(requests[i])], i))  # adapters contiguous
            tokens = self._generate_batch([encoded[i] for i in batch], [self._adapter_name(requests[i]) for i in batch],
                                          [[row_seed(requests[i].seed, k) for k in range(requests[i].n)] for i in batch])
            for i, rows in zip(batch, tokens):
                results[i] = rows
        return results

    def _adapter_name(self, request: GenerationRequest) -> str:
        if request.adapter is None or request.adapter in self.merged:
            return BASE
        return request.adapter

    def _answer(self, tokens: list[int]) -> dict:
        ended = next((j for j, t in enumerate(tokens) if t in self.stop_ids), None)
        kept = tokens[:ended] if ended is not None else tokens
        return {"answer": self.tokenizer.decode(kept, skip_special_tokens=True).strip(),
                "finished": ended is not None, "new_tokens": len(kept)}

    def _forward(self, names: list[str], **inputs):
        """One forward pass with the right adapter per row: none, one (set_adapter) or mixed (stacked LoRA,
        contiguous segments, or peft's adapter_names)."""
        if self.adapters and len(set(names)) > 1 and not self._fast_mixing():
            return self.model(**inputs, adapter_names=names)
        with self.adapter_context(names):
            return self.model(**inputs)

    def _fast_mixing(self) -> bool:
        # eval mode only: there LoRA dropout is the identity
        return (self.stacked is not None or self.segments is not None) and not self.model.training

    @contextlib.contextmanager
    def adapter_context(self, names: list[str]):
        """The model set up for rows with these adapters, for every forward inside: none, one (set_adapter) or
        mixed (stacked LoRA's gates, or contiguous segments). peft's adapter_names is a forward argument instead
        (`_forward`)."""
        model, unique = self.model, set(names)
        if not self.adapters:
            yield
        elif unique == {BASE}:
            with model.disable_adapter():
                yield
        elif len(unique) == 1:
            (name,) = unique
            if model.active_adapter != name:
                model.set_adapter(name)
            yield
        elif not self._fast_mixing():
            raise ValueError("this decode path needs mixing 'stacked' or 'segments' in eval mode")
        elif self.stacked is not None:
            if names is not self._gated_names:  # a new batch, or rows dropped: the gates follow
                self.stacked.set_rows(names)
                self._gated_names = names
            with self.stacked.installed():
                yield
        else:
            with self.segments.applied(names):
                yield

    def stats_step_rows(self, rows: int, kv_width: int, steps: int = 1) -> None:
        """Count decode steps of `rows` rows that attend over `kv_width` cached positions (the benchmark's
        bandwidth figures)."""
        self.stats["decode_steps"] += steps
        self.stats["row_steps"] += rows * steps
        self.stats["kv_position_reads"] += rows * kv_width * steps

    def _sync(self):
        import torch

        if self.timed and self.model.device.type == "cuda":
            torch.cuda.synchronize()

    def _generate_batch(self, prompts: list[list[int]], names: list[str], seeds: list[list[int]]) -> list[list[list[int]]]:
        """Prefill each prompt once, copy its cache for its samples, decode all rows; tokens per prompt per sample."""
        import time

        import torch

        s = self.settings
        device = self.model.device
        width = max(map(len, prompts))
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for p, ids in enumerate(prompts):
            input_ids[p, width - len(ids):] = torch.tensor(ids)
            mask[p, width - len(ids):] = 1
        input_ids, mask = input_ids.to(device), mask.to(device)
        positions = (mask.cumsum(1) - 1).clamp_(min=0)
        started = time.perf_counter()
        with torch.inference_mode():
            from transformers import DynamicCache

            cache = DynamicCache()
            out = self._forward(names, input_ids=input_ids, attention_mask=mask, position_ids=positions,
                                use_cache=True, logits_to_keep=1, **{self.cache_kwarg: cache})
            logits = out.logits[:, -1, :]
            del out
            owner = torch.tensor([p for p, row in enumerate(seeds) for _ in row], device=device)
            if len(owner) != len(prompts) or bool((owner != torch.arange(len(prompts), device=device)).any()):
                cache.batch_select_indices(owner)
                logits, mask = logits[owner], mask[owner]
            row_names = [names[p] for p in owner.tolist()]
            flat_seeds = [seed for row in seeds for seed in row]
            uniforms = torch.from_numpy(row_uniforms(flat_seeds, s.max_new_tokens)).to(device)
            stops = torch.tensor(self.stop_ids, device=device)
            next_position = mask.sum(1)
            self._sync()
            decoding = time.perf_counter()
            self.stats["prefill_seconds"] += decoding - started
            if self.static is not None:
                generated, lengths = self.static.decode(cache, logits, mask, next_position, row_names, uniforms, stops)
            else:
                generated, lengths = self._decode(cache, logits, mask, next_position, row_names, uniforms, stops)
            rows = generated.tolist()
            counts = lengths.tolist()
            self.stats["decode_seconds"] += time.perf_counter() - decoding
        flat = [tokens[:count] for tokens, count in zip(rows, counts)]
        result, start = [], 0
        for row in seeds:
            result.append(flat[start:start + len(row)])
            start += len(row)
        return result

    def _decode(self, cache, logits, mask, next_position, row_names, uniforms, stops):
        """The dynamic decode loop: one forward per new token over the rows still running; finished rows are
        dropped from the cache once a quarter of the batch has finished. Returns (generated tokens, kept lengths)."""
        import torch

        s, device = self.settings, logits.device
        n_rows = len(row_names)
        generated = torch.full((n_rows, s.max_new_tokens), self.pad_id, dtype=torch.long, device=device)
        live = torch.arange(n_rows, device=device)  # original row of each row in the batch
        running = torch.ones(n_rows, dtype=torch.bool, device=device)  # not yet stopped, per batch row
        lengths = torch.full((n_rows,), s.max_new_tokens, dtype=torch.long, device=device)
        for step in range(s.max_new_tokens):
            if step < s.min_new_tokens:
                logits[:, stops] = float("-inf")
            token = choose_tokens(logits, uniforms[live, step], s.temperature, s.top_p)
            generated[live, step] = token
            stopped = running & torch.isin(token, stops)
            if step == s.max_new_tokens - 1:
                break
            if bool(stopped.any()):
                lengths[live[stopped]] = step + 1
                running &= ~stopped
                n_running = int(running.sum())
                if n_running == 0:
                    break
                # Drop finished rows once a quarter of the batch is dead: copying the cache costs about a step.
                if n_running <= 0.75 * len(live):
                    keep = running.nonzero().squeeze(1)
                    cache.batch_select_indices(keep)
                    mask, next_position, token, live = mask[keep], next_position[keep], token[keep], live[keep]
                    row_names = [row_names[k] for k in keep.tolist()]
                    running = running[keep]
            mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=1)
            attention = mask[:, None, None, :].bool() if self.mask_4d else mask
            out = self._forward(row_names, input_ids=token[:, None], attention_mask=attention,
                                position_ids=next_position[:, None], use_cache=True, **{self.cache_kwarg: cache})
            self.stats_step_rows(len(live), mask.shape[1])
            logits = out.logits[:, -1, :]
            del out
            next_position = next_position + 1
        self._sync()
        return generated, lengths
