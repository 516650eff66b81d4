"""Static decoding for the hf engine (config `generation.static_decode`, off by default): a preallocated KV cache
and fixed-shape decode steps, so that on CUDA a step can be captured once and replayed (one graph launch instead
of hundreds of small kernels launched from Python).

What changes against the engine's dynamic loop (`HFEngine._generate_batch`):

- Rows are padded to a bucket (`row_bucket`: 8, 16, 32, ... rows) and the cache to a length bucket
  (`cache_length`: prompt width + max_new_tokens, rounded up to 64), so few shapes occur in a job and each
  (rows, length) pair is prepared (and on CUDA compiled) once and reused by later batches of that shape.
- The prompts' prefill cache (dynamic, as today) is copied into the static cache; every decode step writes one
  column in place. Rows that finished, and the padding rows, stay in the batch: their tokens are ignored, nothing
  is reshaped, so the captured tensors keep their addresses. The attention mask, positions, input tokens and the
  stacked-LoRA gates are static buffers updated in place.
- Tokens are chosen from the same per-row uniforms, so answers equal the dynamic loop's (fp32, tested on CPU).

On CUDA the step runs through `torch.compile(mode="reduce-overhead")` (CUDA graphs); elsewhere it runs eagerly,
which keeps the logic testable on CPU but is slower there than the dynamic loop (finished rows are not dropped),
so CPU runs keep `static_decode: false`. The CUDA speed has not been measured (no GPU was available when this was
written): measure with `python -m metasft.bench.generation --arch qwen3-4b --static-decode` before relying on it.
"""

from __future__ import annotations

from dataclasses import dataclass

LENGTH_QUANTUM = 64  # cache lengths are rounded up to a multiple of this (few shapes, few captures)
MIN_ROWS = 8


def row_bucket(rows: int) -> int:
    """The padded row count of a batch: the next power of two, at least MIN_ROWS."""
    bucket = MIN_ROWS
    while bucket < rows:
        bucket *= 2
    return bucket


def cache_length(prompt_width: int, max_new_tokens: int) -> int:
    """The static cache's length for a batch: prompt + new tokens, rounded up to LENGTH_QUANTUM."""
    needed = prompt_width + max_new_tokens
    return -(-needed // LENGTH_QUANTUM) * LENGTH_QUANTUM


@dataclass
class StaticState:
    """One (rows, length) shape's cache and input buffers, reused by every batch of that shape."""

    rows: int
    length: int
    cache: object  # transformers.StaticCache, initialised for `rows` x `length`
    tokens: object  # (rows, 1) long
    positions: object  # (rows, 1) long
    mask: object  # (rows, length) long
    step: object  # () -> logits (rows, vocab)


class StaticDecoder:
    """The static decode loop of an `HFEngine` (see the module doc)."""

    def __init__(self, engine, compile_step: bool | None = None):
        if engine.adapters and engine.stacked is None:
            raise ValueError("generation.static_decode needs the stacked LoRA path (mixing 'stacked', plain LoRA "
                             "layers): padding rows and finished rows share the batch with every adapter's rows")
        self.engine = engine
        device = engine.model.device
        self.compile_step = (device.type == "cuda") if compile_step is None else compile_step
        self.state: StaticState | None = None
        self.shapes_prepared = 0  # how many (rows, length) shapes this engine prepared (captures on CUDA)

    def _state(self, rows: int, length: int, dtype, device) -> StaticState:
        import torch
        from transformers import StaticCache

        if self.state is not None and (self.state.rows, self.state.length) == (rows, length):
            return self.state
        self.state = None  # free the previous shape's cache first
        if device.type == "cuda":
            torch.cuda.empty_cache()
        base = self.engine.base_model
        config = base.config.get_text_config(decoder=True)
        cache = StaticCache(config=config, max_cache_len=length)
        heads = config.num_key_value_heads or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        cache.early_initialization(rows, heads, head_dim, dtype, device)
        tokens = torch.full((rows, 1), self.engine.pad_id, dtype=torch.long, device=device)
        positions = torch.zeros((rows, 1), dtype=torch.long, device=device)
        mask = torch.zeros((rows, length), dtype=torch.long, device=device)
        model, kwarg = self.engine.model, self.engine.cache_kwarg

        def step():
            out = model(input_ids=tokens, attention_mask=mask, position_ids=positions, use_cache=True,
                        **{kwarg: cache})
            return out.logits[:, -1, :]

        if self.compile_step:
            step = torch.compile(step, mode="reduce-overhead", dynamic=False)
        self.state = StaticState(rows, length, cache, tokens, positions, mask, step)
        self.shapes_prepared += 1
        return self.state

    def decode(self, cache, logits, mask, next_position, row_names: list[str], uniforms, stops):
        """Decode every row of a prefilled batch (`cache`: its dynamic cache, one row per sample; `logits`: the
        prefill's last logits; `mask`: its attention mask) to max_new_tokens or its stop token. Returns
        (generated tokens (rows, max_new_tokens), tokens kept per row), as the dynamic loop."""
        import torch

        from metasft.generation.requests import BASE
        from metasft.generation.sampling import choose_tokens

        engine, s = self.engine, self.engine.settings
        n_rows, width = mask.shape
        device = logits.device
        prefilled = [(layer.keys, layer.values) for layer in cache.layers]
        state = self._state(row_bucket(n_rows), cache_length(width, s.max_new_tokens), prefilled[0][0].dtype,
                            device)
        for layer, (keys, values) in zip(state.cache.layers, prefilled):
            layer.keys[:n_rows, :, :width].copy_(keys)
            layer.values[:n_rows, :, :width].copy_(values)
            layer.cumulative_length.fill_(width)
        del prefilled, cache
        state.mask.zero_()
        state.mask[:n_rows, :width].copy_(mask)
        state.mask[n_rows:, width - 1] = 1  # padding rows attend to one (empty) position: no all-masked softmax
        state.positions[:n_rows, 0].copy_(next_position)
        state.positions[n_rows:, 0] = width
        state.tokens.fill_(engine.pad_id)
        names = row_names + [BASE] * (state.rows - n_rows)
        generated = torch.full((n_rows, s.max_new_tokens), engine.pad_id, dtype=torch.long, device=device)
        lengths = torch.full((n_rows,), s.max_new_tokens, dtype=torch.long, device=device)
        running = torch.ones(n_rows, dtype=torch.bool, device=device)
        with engine.adapter_context(names):
            for step in range(s.max_new_tokens):
                logits = logits[:n_rows]
                if step < s.min_new_tokens:
                    logits[:, stops] = float("-inf")
                token = choose_tokens(logits, uniforms[:, step], s.temperature, s.top_p)
                generated[:, step] = token
                stopped = running & torch.isin(token, stops)
                lengths = torch.where(stopped, step + 1, lengths)
                running &= ~stopped
                if step == s.max_new_tokens - 1 or not bool(running.any()):
                    break
                state.tokens[:n_rows, 0].copy_(token)
                state.mask[:, width + step] = 1
                logits = state.step()
                state.positions.add_(1)
            engine.stats_step_rows(state.rows, state.length, step)  # forwards: one per step before the last
        return generated, lengths
