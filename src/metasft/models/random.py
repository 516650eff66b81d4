"""Randomly initialised models and LoRA adapters of a given shape, for benchmarks and tests (no download)."""

from __future__ import annotations

import shutil
from pathlib import Path

from metasft.models.manifest import write_manifest
from metasft.pipeline.seeds import derived_seed

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ARCHS = {
    # Qwen/Qwen3-4B's config.json (the base model of config/presets/paper/trivia_qwen3_4b.yaml has the same shape)
    "qwen3-4b": {"hidden_size": 2560, "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8,
                 "head_dim": 128, "intermediate_size": 9728, "vocab_size": 151936, "max_position_embeddings": 40960,
                 "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True},
}


def project_tokenizer(texts: list[str] | None = None, source: str | Path | None = None, vocab_size: int = 1024):
    """The project's tokenizer: from a saved model folder when given, else trained (byte-level BPE + ChatML)."""
    from metasft.models.loading import load_tokenizer

    if source is not None and Path(source, "tokenizer.json").exists():
        return load_tokenizer(source)
    from metasft.models.tiny import train_tokenizer

    return train_tokenizer(texts or ["a b c"], vocab_size)


def build_random_model(folder: str | Path, tokenizer, arch: dict, seed: int = 0, dtype=None) -> Path:
    """A randomly initialised Qwen3 of shape `arch`, saved with the tokenizer (`save_pretrained` format)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    arch = dict(arch)
    vocab = max(arch.pop("vocab_size", 0), len(tokenizer))
    arch.setdefault("head_dim", arch["hidden_size"] // arch["num_attention_heads"])
    arch.setdefault("tie_word_embeddings", True)
    config = Qwen3Config(vocab_size=vocab, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=None, **arch)
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() and dtype is not None else "cpu"
    previous = torch.get_default_dtype()
    if dtype is not None:
        torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen3ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    return folder


def build_random_adapters(base: str | Path, names: list[str], folder: str | Path, r: int = 8, alpha: int = 16,
                          seed: int = 0, target_modules: list[str] | None = None) -> dict[str, Path]:
    """Randomly initialised LoRA adapters (`init_lora_weights=False`, so they differ from the base and from
    each other) on `base`, saved in peft format under `folder/<name>`; `target_modules` default: all linear layers
    the pipeline's adapters target."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype="auto")
    if torch.cuda.is_available():
        model = model.to("cuda")
    peft_model = None
    for name in names:
        torch.manual_seed(derived_seed(seed, "random_adapter", name))
        config = LoraConfig(r=r, lora_alpha=alpha, target_modules=target_modules or LORA_TARGETS, init_lora_weights=False,
                            task_type="CAUSAL_LM")
        if peft_model is None:
            peft_model = get_peft_model(model, config, adapter_name=name)
        else:
            peft_model.add_adapter(name, config)
    folder = Path(folder)
    paths = {}
    for name in names:
        peft_model.save_pretrained(folder / "_save", selected_adapters=[name])
        saved = folder / "_save" / name if (folder / "_save" / name).exists() else folder / "_save"
        shutil.move(str(saved), str(folder / name))
        shutil.rmtree(folder / "_save", ignore_errors=True)
        write_manifest(folder / name)  # loaders require an adapter's manifest
        paths[name] = folder / name
    del peft_model, model
    return paths
