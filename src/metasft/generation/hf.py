"""The generation engine shared by golden labels, UntrainedICL and MetaSFT: many adapters, one pass.

A job hands the engine all its requests at once: (chat prompt, adapter name or None, seed, number of samples).
The engine returns, per request, that many answers as dicts (answer, finished, new_tokens). Two backends, chosen
by `generation.backend`:

- `hf` (default; CPU and GPU): one copy of the base model with every adapter of the job loaded into one
  `PeftModel`. Requests are sorted by prompt length and cut into batches by a token budget
  (`max_batch_tokens` = rows x (longest prompt + max_new_tokens), at most `batch_size` rows); a batch mixes
  adapters through peft's mixed-adapter forward (`adapter_names`, one per row). Each prompt is prefilled once
  and its KV cache copied for its samples; a hand-written decode loop then steps the batch, drops finished rows
  from the cache as they accumulate, and draws each row's token from that row's own seeded uniforms (inverse-CDF
  sampling), so an answer depends on its request, not on what else shares its batch or job.
- `vllm` (optional extra, GPU): `metasft.generation.vllm`, one `LoRARequest` per request and `SamplingParams(n=...)`.

Importing this module needs neither torch nor vllm.
"""

from __future__ import annotations

import contextlib
import inspect

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


class SegmentedLoRA:
    """Mixed-adapter LoRA for batches whose rows are grouped by adapter: in every LoRA layer, the base output
    plus, per adapter, `lora_B(lora_A(x[start:end])) * scaling` added to its contiguous slice of rows.

    The same arithmetic as peft's per-adapter forward; peft's `adapter_names` path computes the same, but rebuilds
    index lists and gathers/scatters rows in every layer at every step, which costs more than the LoRA itself on
    small models. Installed around one forward call at a time, so the `PeftModel` is otherwise untouched.
    LoRA dropout (a training setting) is no reason to fall back: in eval mode it is the identity, and the
    engine uses the segments only while the model is in eval mode.
    """

    def __init__(self, model):
        from peft.tuners.lora import Linear as LoraLinear

        self.layers = [m for m in model.modules() if hasattr(m, "lora_A") and hasattr(m, "base_layer")]
        self.supported = bool(self.layers) and all(
            type(m) is LoraLinear and not m.lora_variant and not getattr(m, "merged", False)
            and not getattr(m, "fan_in_fan_out", False)
            and not any(getattr(m, "lora_bias", {}).values()) for m in self.layers)
        self.runs: list[tuple[int, int, str]] = []
        self.forwards = [self._forward(layer) for layer in self.layers] if self.supported else []

    @staticmethod
    def runs_of(names: list[str]) -> list[tuple[int, int, str]]:
        runs, start = [], 0
        for i in range(1, len(names) + 1):
            if i == len(names) or names[i] != names[start]:
                runs.append((start, i, names[start]))
                start = i
        return runs

    def _forward(self, layer):
        import torch.nn.functional as F

        weights = {name: (layer.lora_A[name].weight, layer.lora_B[name].weight, layer.scaling[name])
                   for name in layer.lora_A}
        base_layer = layer.base_layer

        def forward(x, *args, **kwargs):
            result = base_layer(x, *args, **kwargs)
            for start, end, name in self.runs:
                if name not in weights:  # the base, or an adapter that does not target this layer
                    continue
                a, b, scaling = weights[name]
                delta = F.linear(F.linear(x[start:end].to(a.dtype), a), b) * scaling  # peft: LoRA in its dtype
                result[start:end].add_(delta if delta.dtype == result.dtype else delta.to(result.dtype))
            return result

        return forward

    @contextlib.contextmanager
    def applied(self, names: list[str]):
        self.runs = self.runs_of(names)
        if len({name for _, _, name in self.runs}) != len(self.runs):
            raise ValueError("rows of a mixed-adapter batch must be grouped by adapter")
        for layer, forward in zip(self.layers, self.forwards):
            layer.forward = forward
        try:
            yield
        finally:
            for layer in self.layers:
                del layer.forward


class HFEngine:
    """The `hf` backend: a transformers model (optionally a `PeftModel` holding several adapters)."""

    def __init__(self, model, tokenizer, settings: SamplingSettings, merged: tuple[str, ...] = (),
                 mixing: str = "segments"):
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
        # How a batch that mixes adapters runs: "segments" (rows grouped by adapter, each adapter's LoRA applied to
        # its contiguous slice) or "peft" (peft's `adapter_names`); segments fall back to peft for LoRA variants.
        self.segments = SegmentedLoRA(model) if mixing == "segments" and self.adapters else None
        if self.segments is not None and not self.segments.supported:
            self.segments = None

    @classmethod
    def load(cls, base_model, adapters: dict, settings: SamplingSettings, merge: bool = False,
             mixing: str = "segments", chat: dict | None = None) -> "HFEngine":
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
        """One forward pass with the right adapter per row: none, one (set_adapter) or mixed (contiguous
        segments, or peft's adapter_names)."""
        model = self.model
        if not self.adapters:
            return model(**inputs)
        unique = set(names)
        if unique == {BASE}:
            with model.disable_adapter():
                return model(**inputs)
        if len(unique) == 1:
            (name,) = unique
            if model.active_adapter != name:
                model.set_adapter(name)
            return model(**inputs)
        if self.segments is not None and not model.training:  # eval: LoRA dropout is the identity
            with self.segments.applied(names):
                return model(**inputs)
        return model(**inputs, adapter_names=names)

    def _generate_batch(self, prompts: list[list[int]], names: list[str], seeds: list[list[int]]) -> list[list[list[int]]]:
        """Prefill each prompt once, copy its cache for its samples, decode all rows; tokens per prompt per sample."""
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
            n_rows = len(flat_seeds)
            generated = torch.full((n_rows, s.max_new_tokens), self.pad_id, dtype=torch.long, device=device)
            stops = torch.tensor(self.stop_ids, device=device)
            live = torch.arange(n_rows, device=device)  # original row of each row in the batch
            running = torch.ones(n_rows, dtype=torch.bool, device=device)  # not yet stopped, per batch row
            next_position = mask.sum(1)
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
                logits = out.logits[:, -1, :]
                del out
                next_position = next_position + 1
            rows = generated.tolist()
            counts = lengths.tolist()
        flat = [tokens[:count] for tokens, count in zip(rows, counts)]
        result, start = [], 0
        for row in seeds:
            result.append(flat[start:start + len(row)])
            start += len(row)
        return result
