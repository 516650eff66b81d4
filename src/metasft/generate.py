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
- `vllm` (optional extra, GPU): `metasft.engine_vllm`, one `LoRARequest` per request and `SamplingParams(n=...)`.

Importing this module needs neither torch nor vllm.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import zlib
from dataclasses import dataclass, field
from typing import Any

BACKENDS = ("hf", "vllm")
BASE = "__base__"  # peft's name for "no adapter" in a mixed-adapter batch


class GenerationBackendError(RuntimeError):
    """The configured generation backend cannot run in this environment."""


@dataclass(frozen=True)
class SamplingSettings:
    samples_per_question: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 24
    min_new_tokens: int = 0  # stop tokens are masked before this many new tokens (benchmarks on random weights)
    batch_size: int = 1024  # at most this many sequences (prompts x samples) per batch
    max_batch_tokens: int = 32768  # rows x (longest prompt + max_new_tokens) per batch
    backend: str = "hf"
    vllm: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict) -> "SamplingSettings":
        return cls(**{k: v for k, v in config.items() if k in cls.__dataclass_fields__})

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


@dataclass
class GenerationRequest:
    """One prompt to answer `n` times with `adapter` (None: the base model). `seed` identifies the request: its
    samples are drawn from `derived_seed(seed, "sample", i)`, whatever else is generated with it."""

    messages: list[dict]
    adapter: str | None
    seed: int
    n: int = 1


def derived_seed(*parts) -> int:
    """A stable 31-bit seed from any parts (config seed, stage, domain): the same in every process."""
    return zlib.crc32(":".join(map(str, parts)).encode()) & 0x7FFFFFFF


def row_seed(request_seed: int, sample_index: int) -> int:
    return derived_seed(request_seed, "sample", sample_index)


def check_generation_backend(generation: dict) -> None:
    """Fail early (at workflow start) when `generation.backend` cannot run here. Imports nothing heavy."""
    backend = generation.get("backend", "hf")
    if backend not in BACKENDS:
        raise GenerationBackendError(f"generation.backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise GenerationBackendError(
            "generation.backend is 'vllm' but vllm is not installed in this environment: "
            "pip install -e '.[vllm]' on a CUDA machine, or set generation.backend: hf")


def stop_token_ids(tokenizer, *configs) -> list[int]:
    """Tokens that end an answer: the tokenizer's EOS, the EOS ids of the model's configs (model config,
    generation config), the chat template's end-of-turn token, and ChatML's `<|im_end|>`."""
    from metasft.chat import end_of_turn_id

    ids = {tokenizer.eos_token_id, end_of_turn_id(tokenizer)}
    for config in configs:
        eos = getattr(config, "eos_token_id", None)
        ids.update(eos if isinstance(eos, (list, tuple)) else [eos])
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() else None
    ids.add(im_end)
    return sorted(i for i in ids if i is not None)


def encode_prompts(tokenizer, requests: list[GenerationRequest]) -> list[list[int]]:
    """Token ids of each request's chat prompt (`metasft.chat.encode_chat`, generation prompt added), deduplicated."""
    import json

    from metasft.chat import encode_chat

    cache: dict[str, list[int]] = {}
    encoded = []
    for request in requests:
        key = json.dumps(request.messages)
        if key not in cache:
            cache[key] = encode_chat(tokenizer, request.messages, add_generation_prompt=True)
        encoded.append(cache[key])
    return encoded


def plan_batches(lengths: list[int], samples: list[int], max_new_tokens: int, max_batch_tokens: int,
                 max_rows: int) -> list[list[int]]:
    """Prompt indices grouped into batches: sorted by length (so batches pad little), each batch's
    rows x (longest prompt + max_new_tokens) within `max_batch_tokens` and its rows within `max_rows`.
    A prompt whose samples alone exceed a limit runs in a batch of its own."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches, current, rows = [], [], 0
    for i in order:
        longest = lengths[i]  # sorted: the newcomer is the longest so far
        new_rows = rows + samples[i]
        if current and (new_rows * (longest + max_new_tokens) > max_batch_tokens or new_rows > max_rows):
            batches.append(current)
            current, new_rows = [], samples[i]
        current.append(i)
        rows = new_rows
    if current:
        batches.append(current)
    return batches


def row_uniforms(seeds: list[int], steps: int):
    """One uniform per row and decoding step, from the row's own seed (numpy PCG64): batch-independent."""
    import numpy as np

    out = np.empty((len(seeds), steps), dtype=np.float64)
    for r, seed in enumerate(seeds):
        out[r] = np.random.default_rng(seed).random(steps)
    return out


def choose_tokens(logits, uniforms, temperature: float, top_p: float):
    """Next token per row: argmax when greedy, else inverse-CDF sampling of softmax(logits / T) (top-p
    truncated) at the row's uniform. Rows are independent, so a row's choice does not depend on its batch."""
    import torch

    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    order = None
    if top_p < 1:
        probs, order = probs.sort(dim=-1, descending=True, stable=True)
        mass_before = probs.cumsum(-1) - probs
        probs = probs.masked_fill(mass_before >= top_p, 0.0)
    cdf = probs.double().cumsum(-1)
    target = (uniforms.to(cdf.device) * cdf[:, -1]).unsqueeze(1)
    index = torch.searchsorted(cdf, target, right=True).clamp_(max=cdf.shape[1] - 1)
    if order is not None:
        index = order.gather(1, index)
    return index.squeeze(1)


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
        from metasft.modeling import load_with_adapters

        model, tokenizer = load_with_adapters(base_model, adapters, chat)
        merged: tuple[str, ...] = ()
        if merge and len(adapters) == 1:
            merged = tuple(adapters)
            model = model.merge_and_unload()
            model.eval()
        return cls(model, tokenizer, settings, merged, mixing)

    # ---- public API -------------------------------------------------------------------------------------------
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

    # ---- internals --------------------------------------------------------------------------------------------
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


def load_engine(base_model, adapters: dict, settings: SamplingSettings, merge: bool = False,
                chat: dict | None = None):
    """The configured backend's engine with `adapters` ({name: path}) loaded on one copy of `base_model`;
    prompts rendered with the chat settings `chat` (config `chat`)."""
    if settings.backend == "vllm":
        check_generation_backend({"backend": "vllm"})
        from metasft.engine_vllm import VLLMEngine

        return VLLMEngine(base_model, adapters, settings, chat=chat)
    if settings.backend != "hf":
        raise GenerationBackendError(f"unknown generation backend {settings.backend!r}")
    return HFEngine.load(base_model, adapters, settings, merge=merge, chat=chat)


def sample_answers(model, tokenizer, prompts: list[list[dict]], settings: SamplingSettings, seed: int) -> list[list[dict]]:
    """The plain `transformers.generate` path (one adapter, the active one; `num_return_sequences`): the
    reference that the engine is tested and benchmarked against. Seeded once per call."""
    import torch

    from metasft.chat import encode_chat

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
