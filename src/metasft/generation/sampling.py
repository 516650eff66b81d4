"""The hf engine's batch planning (`plan_batches`: token-budget batches of length-sorted prompts) and per-row
seeded token sampling (temperature, top-p): each sample row draws from its own uniforms (`row_seed`,
`row_uniforms`), so an answer depends on its request alone. The vllm backend samples with vLLM's own generator."""

from __future__ import annotations

from metasft.pipeline.seeds import derived_seed


def row_seed(request_seed: int, sample_index: int) -> int:
    return derived_seed(request_seed, "sample", sample_index)


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
