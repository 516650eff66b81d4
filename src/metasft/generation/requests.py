"""What an engine is asked: sampling settings, generation requests, backend checks and prompt encoding.

Both backends take the same `GenerationRequest`s with the same `SamplingSettings` and encode prompts and stop
tokens the same way (`encode_prompts`, `stop_token_ids`), so they write the same answer schema. Importing this
module is cheap: `check_generation_backend` runs at DAG construction (rules/common.smk).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

BACKENDS = ("hf", "vllm")
BASE = "__base__"  # peft's name for "no adapter" in a mixed-adapter batch


class GenerationBackendError(RuntimeError):
    """The configured generation backend cannot run in this environment."""


@dataclass(frozen=True)
class SamplingSettings:
    """Config `generation`, built by `metasft.pipeline.config.settings_from` (the schema holds the defaults)."""

    samples_per_question: int
    temperature: float
    top_p: float
    max_new_tokens: int
    min_new_tokens: int  # stop tokens are masked before this many new tokens (benchmarks on random weights)
    batch_size: int  # at most this many sequences (prompts x samples) per batch
    max_batch_tokens: int  # rows x (longest prompt + max_new_tokens) per batch
    backend: str
    static_decode: bool  # hf: preallocated KV cache and fixed-shape decode steps, CUDA graphs on CUDA (.static)
    # Options of the vllm backend. A job's settings hold them only when the backend is vllm (rules drop an unused
    # backend's section from their params, metasft.pipeline.reruns), so the field may be absent: empty then.
    vllm: dict = field(default_factory=dict)

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
    from metasft.models.chat import end_of_turn_id

    ids = {tokenizer.eos_token_id, end_of_turn_id(tokenizer)}
    for config in configs:
        eos = getattr(config, "eos_token_id", None)
        ids.update(eos if isinstance(eos, (list, tuple)) else [eos])
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() else None
    ids.add(im_end)
    return sorted(i for i in ids if i is not None)


def encode_prompts(tokenizer, requests: list[GenerationRequest]) -> list[list[int]]:
    """Token ids of each request's chat prompt (`metasft.models.chat.encode_chat`, generation prompt added), deduplicated."""
    import json

    from metasft.models.chat import encode_chat

    cache: dict[str, list[int]] = {}
    encoded = []
    for request in requests:
        key = json.dumps(request.messages)
        if key not in cache:
            cache[key] = encode_chat(tokenizer, request.messages, add_generation_prompt=True)
        encoded.append(cache[key])
    return encoded
