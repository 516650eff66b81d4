"""The `vllm` generation backend (optional extra `metasft[vllm]`, CUDA machines): one `LLM` with LoRA enabled
serves every adapter of the job; each request carries its own `LoRARequest` and `SamplingParams(n=..., seed=...)`.

Prompts are templated and tokenized by the project's tokenizer and passed as token ids, and answers are cut at
the same stop tokens and decoded by the same tokenizer as the `hf` backend, so both write the same schema from
the same per-request seeds (the random streams differ between backends: vLLM draws a request's samples from its
own per-request generator). vllm is imported only when an engine is built.
"""

from __future__ import annotations

import json
from pathlib import Path

from metasft.generation.requests import (
    GenerationRequest,
    SamplingSettings,
    encode_prompts,
    stop_token_ids,
)
from metasft.pipeline.config import ConfigError

VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the values vLLM accepts for max_lora_rank


def adapter_rank(path) -> int:
    config = json.loads((Path(path) / "adapter_config.json").read_text())
    return max([int(config.get("r", 8)), *map(int, (config.get("rank_pattern") or {}).values())])


def llm_kwargs(base_model, adapters: dict, settings: SamplingSettings, seed: int = 0) -> dict:
    """Keyword arguments of `vllm.LLM`: LoRA on when the job has adapters, slots for up to `max_loras` of them
    per batch, and `max_lora_rank` the smallest vLLM rank that holds every adapter (unless configured)."""
    options = settings.vllm
    if not options:  # the section is dropped from a job's settings only when the backend is not vllm
        raise ConfigError("generation.vllm is missing: the vllm backend takes its options from the validated "
                          "config section (config/schema.yaml holds their defaults)")
    kwargs = {"model": str(base_model), "seed": seed, "gpu_memory_utilization": options["gpu_memory_utilization"],
              "max_num_seqs": options["max_num_seqs"], "enforce_eager": options["enforce_eager"]}
    for key in ("dtype", "max_model_len", "tensor_parallel_size", "max_num_batched_tokens"):
        if options.get(key) is not None:
            kwargs[key] = options[key]
    if adapters:
        rank = options.get("max_lora_rank") or next(
            (r for r in VLLM_LORA_RANKS if r >= max(map(adapter_rank, adapters.values()))), VLLM_LORA_RANKS[-1])
        kwargs.update(enable_lora=True, max_loras=min(int(options["max_loras"]), len(adapters)), max_lora_rank=rank)
    return kwargs


def lora_ids(adapters: dict) -> dict[str, int]:
    """A stable positive integer per adapter name (vLLM's `lora_int_id`), by sorted name."""
    return {name: i for i, name in enumerate(sorted(adapters), start=1)}


def build_requests(requests: list[GenerationRequest], prompt_ids: list[list[int]], adapters: dict,
                   settings: SamplingSettings, stop_ids: list[int]) -> list[dict]:
    """The pure part of the vllm backend: per request, the prompt (token ids), the LoRA request as
    (name, int id, path) or None, and the `SamplingParams` keyword arguments."""
    ids = lora_ids(adapters)
    specs = []
    for request, tokens in zip(requests, prompt_ids):
        if request.adapter is not None and request.adapter not in adapters:
            raise KeyError(f"adapter {request.adapter!r} is not loaded (have: {sorted(adapters)})")
        sampling = {"n": request.n, "max_tokens": settings.max_new_tokens, "min_tokens": settings.min_new_tokens,
                    "seed": request.seed, "stop_token_ids": list(stop_ids), "detokenize": False}
        if settings.greedy:
            sampling.update(temperature=0.0)
        else:
            sampling.update(temperature=settings.temperature, top_p=settings.top_p)
        lora = None if request.adapter is None else (request.adapter, ids[request.adapter], str(adapters[request.adapter]))
        specs.append({"prompt": {"prompt_token_ids": list(tokens)}, "lora": lora, "sampling": sampling})
    return specs


class VLLMEngine:
    """`generate(requests)` as in `metasft.generation.hf.HFEngine`, served by vLLM."""

    def __init__(self, base_model, adapters: dict, settings: SamplingSettings, seed: int = 0,
                 chat: dict | None = None):
        from transformers import AutoConfig, GenerationConfig
        from vllm import LLM

        from metasft.models.loading import load_tokenizer
        from metasft.models.manifest import check_model

        check_model(base_model, required=False)
        for path in adapters.values():
            check_model(path)
        self.adapters = {name: str(path) for name, path in adapters.items()}
        self.settings = settings
        self.tokenizer = load_tokenizer(base_model, chat)
        config = AutoConfig.from_pretrained(str(base_model))
        if len(self.tokenizer) > config.vocab_size:
            raise ValueError(f"the tokenizer of {base_model} has {len(self.tokenizer)} tokens but the model only "
                             f"{config.vocab_size}: chat-template tokens had to be added; use generation.backend: hf")
        try:
            generation_config = GenerationConfig.from_pretrained(str(base_model))
        except OSError:
            generation_config = None
        self.stop_ids = stop_token_ids(self.tokenizer, config, generation_config)
        self.llm = LLM(**llm_kwargs(base_model, self.adapters, settings, seed))

    def generate(self, requests: list[GenerationRequest]) -> list[list[dict]]:
        from vllm import SamplingParams
        from vllm.lora.request import LoRARequest

        specs = build_requests(requests, encode_prompts(self.tokenizer, requests), self.adapters, self.settings,
                               self.stop_ids)
        outputs = self.llm.generate(
            [s["prompt"] for s in specs], [SamplingParams(**s["sampling"]) for s in specs],
            lora_request=[LoRARequest(*s["lora"]) if s["lora"] else None for s in specs], use_tqdm=False)
        return [[self.answer(list(c.token_ids), c.finish_reason == "stop")
                 for c in sorted(out.outputs, key=lambda c: c.index)] for out in outputs]

    def answer(self, tokens: list[int], stopped: bool) -> dict:
        """The same post-processing as the hf backend: cut at the first stop token (vLLM may or may not return
        it), decode with the project's tokenizer."""
        ended = next((j for j, t in enumerate(tokens) if t in self.stop_ids), None)
        kept = tokens[:ended] if ended is not None else tokens
        return {"answer": self.tokenizer.decode(kept, skip_special_tokens=True).strip(),
                "finished": stopped or ended is not None, "new_tokens": len(kept)}
