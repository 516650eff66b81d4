"""Loading the base model (hub id or local path) and LoRA adapters; the same code path for tiny and Qwen3."""

from __future__ import annotations

import os
from pathlib import Path

from metasft.models.chat import ensure_chat_template, set_chat_settings
from metasft.models.manifest import check_model


def configure_torch(threads: int) -> None:
    import torch

    torch.set_num_threads(max(int(threads), 1))


def device_and_dtype():
    import torch

    if torch.cuda.is_available():
        return "cuda", (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return "cpu", torch.float32


def load_tokenizer(base_model: str | Path, chat: dict | None = None):
    """The base model's tokenizer with a chat template (its own when it has one; never new tokens) and the run's
    chat settings (config `chat`) attached, which every render of a prompt uses."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_model))
    ensure_chat_template(tokenizer)
    set_chat_settings(tokenizer, chat)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(base_model: str | Path, dtype=None, chat: dict | None = None):
    """Tokenizer and model, on the GPU when there is one. A model folder this pipeline made is checked against
    its manifest first (a hub model is not)."""
    from transformers import AutoModelForCausalLM

    check_model(base_model, required=False)
    device, default_dtype = device_and_dtype()
    tokenizer = load_tokenizer(base_model, chat)
    model = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=dtype or default_dtype)
    model.to(device)
    model.eval()
    return model, tokenizer


def load_with_adapters(base_model: str | Path, adapters: dict[str, str | os.PathLike], chat: dict | None = None):
    """One copy of the base with several named LoRA adapters loaded; switch with `model.set_adapter(name)`.

    Every adapter is checked against its manifest before anything is loaded: a missing or damaged adapter stops
    with its name and how to rebuild it (peft would take a missing folder for a hub id).
    """
    from peft import PeftModel

    for path in adapters.values():
        check_model(path)
    model, tokenizer = load_base(base_model, chat=chat)
    names = list(adapters)
    if not names:
        return model, tokenizer
    model = PeftModel.from_pretrained(model, str(adapters[names[0]]), adapter_name=names[0])
    for name in names[1:]:
        model.load_adapter(str(adapters[name]), adapter_name=name)
    model.eval()
    return model, tokenizer
