"""The engine a config names (hf or vllm), loaded with a set of adapters.

`load_engine` is the one place the backend is chosen; the engines themselves are `metasft.generation.hf`
(`HFEngine`, with the overview of both backends) and `metasft.generation.vllm` (`VLLMEngine`, imported only when
the config asks for it).
"""

from __future__ import annotations

from metasft.generation.hf import HFEngine
from metasft.generation.requests import (
    GenerationBackendError,
    SamplingSettings,
    check_generation_backend,
)


def load_engine(base_model, adapters: dict, settings: SamplingSettings, merge: bool = False,
                chat: dict | None = None):
    """The configured backend's engine with `adapters` ({name: path}) loaded on one copy of `base_model`;
    prompts rendered with the chat settings `chat` (config `chat`)."""
    if settings.backend == "vllm":
        check_generation_backend({"backend": "vllm"})
        from metasft.generation.vllm import VLLMEngine

        return VLLMEngine(base_model, adapters, settings, chat=chat)
    if settings.backend != "hf":
        raise GenerationBackendError(f"unknown generation backend {settings.backend!r}")
    return HFEngine.load(base_model, adapters, settings, merge=merge, chat=chat)
