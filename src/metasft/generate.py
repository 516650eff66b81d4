"""Batched sampling of answers: one model load per job, many prompts (and adapters) per load."""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingSettings:
    samples_per_question: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 24
    batch_size: int = 256  # sequences (prompts x samples) per generate call

    @classmethod
    def from_config(cls, config: dict) -> "SamplingSettings":
        return cls(**{k: v for k, v in config.items() if k in cls.__dataclass_fields__})


def derived_seed(*parts) -> int:
    """A stable 31-bit seed from any parts (config seed, stage, domain): the same in every process."""
    return zlib.crc32(":".join(map(str, parts)).encode()) & 0x7FFFFFFF


def sample_answers(model, tokenizer, prompts: list[list[dict]], settings: SamplingSettings, seed: int) -> list[list[dict]]:
    """For each chat prompt, `samples_per_question` sampled answers as dicts (answer, finished, new_tokens).

    Prompts are sorted by length so batches pad little; seeding happens once per call, so a call's output
    depends only on its prompts, settings and seed, not on what else the job generates.
    """
    import torch

    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    order = sorted(range(len(prompts)), key=lambda i: (len(encoded[i]), i))
    n = settings.samples_per_question
    per_batch = max(settings.batch_size // n, 1)
    eos_ids = {tokenizer.eos_token_id}
    results: list[list[dict]] = [[] for _ in prompts]
    torch.manual_seed(seed)
    device = model.device
    tokenizer.padding_side = "left"
    for start in range(0, len(order), per_batch):
        batch = order[start:start + per_batch]
        padded = tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt")
        with torch.inference_mode():
            output = model.generate(
                input_ids=padded["input_ids"].to(device), attention_mask=padded["attention_mask"].to(device),
                do_sample=settings.temperature > 0, temperature=settings.temperature if settings.temperature > 0 else None,
                top_p=settings.top_p if settings.temperature > 0 else None, max_new_tokens=settings.max_new_tokens,
                num_return_sequences=n, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                top_k=None,
            )
        new_tokens = output[:, padded["input_ids"].shape[1]:].tolist()
        for row, tokens in enumerate(new_tokens):
            prompt_index = batch[row // n]
            ended = next((j for j, t in enumerate(tokens) if t in eos_ids), None)
            kept = tokens[:ended] if ended is not None else [t for t in tokens if t != tokenizer.pad_token_id]
            results[prompt_index].append({
                "answer": tokenizer.decode(kept, skip_special_tokens=True).strip(),
                "finished": ended is not None,
                "new_tokens": len(kept),
            })
    return results
