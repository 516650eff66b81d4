"""How likely a model finds given answers to a chat prompt: the forward model's side of inverse prediction.

`answer_logprobs` returns, per answer, the summed log-probability of its tokens after the prompt, exactly as
sampling would have produced them: the answer is rendered as the assistant turn of the chat template (the prompt
is a prefix, as in `metasft.models.chat.sft_examples`) and ends with the end-of-turn token when the sampled answer
finished. The prompt is prefilled once per batch and its KV cache repeated for the batch's answers, so a prompt
with hundreds of candidate answers costs one prefill, and logits are computed only where an answer token is
predicted (a 150k-token vocabulary times every position would not fit). Importing this module needs no torch.
"""

from __future__ import annotations

import contextlib
import inspect


def completion_ids(tokenizer, prompt_ids: list[int], messages: list[dict], answer: str, finished: bool,
                   end_of_turn: int | None) -> list[int]:
    """The answer's token ids as they follow `prompt_ids` in the chat template: up to and including the turn's end
    token when the answer finished, without it when sampling was cut off at max_new_tokens."""
    from metasft.models.chat import render_chat

    text = render_chat(tokenizer, [*messages, {"role": "assistant", "content": answer}], add_generation_prompt=False)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if ids[:len(prompt_ids)] != prompt_ids:
        raise ValueError("the chat template does not render the prompt as a prefix of prompt + answer: the answer's "
                         f"likelihood would be scored in another context than it was sampled in: {tokenizer.decode(ids)!r}")
    completion = ids[len(prompt_ids):]
    if end_of_turn is not None and end_of_turn in completion:
        end = completion.index(end_of_turn)
        completion = completion[:end + 1] if finished else completion[:end]
    return completion


@contextlib.contextmanager
def adapter_active(model, adapter: str | None):
    """Run `model` as the base (None) or with one of its loaded LoRA adapters."""
    if adapter is None:
        with (model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()):
            yield
        return
    if model.active_adapter != adapter:
        model.set_adapter(adapter)
    yield


def _causal_lm(model):
    """The transformers causal LM inside a PeftModel (its LoRA layers are injected in place, so calling the inner
    model still applies the active adapter)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def answer_logprobs(model, tokenizer, messages: list[dict], answers: list[tuple[str, bool]], *,
                    adapter: str | None = None, batch_tokens: int = 4096) -> list[float]:
    """Summed log-probability of each (answer text, finished) after the chat prompt `messages`."""
    return prompts_answer_logprobs(model, tokenizer, [messages], answers, adapter=adapter,
                                   batch_tokens=batch_tokens)[0]


def _batches(prompt_lengths: list[int], answer_lengths: list[int], batch_tokens: int) -> list[tuple[list, list]]:
    """(prompt indices, answer indices) blocks: every prompt of a block is scored with every answer of it, and a
    block holds at most `batch_tokens` answer positions (rows x longest answer) and as many prefill tokens."""
    answers = sorted(range(len(answer_lengths)), key=lambda i: answer_lengths[i])  # similar lengths pad little
    answer_blocks, current = [], []
    for i in answers:
        if current and (len(current) + 1) * (answer_lengths[i] + 1) > batch_tokens:
            answer_blocks.append(current)
            current = []
        current.append(i)
    answer_blocks.append(current)
    prompts = sorted(range(len(prompt_lengths)), key=lambda i: prompt_lengths[i])
    blocks = []
    for block in answer_blocks:
        width = 1 + max(answer_lengths[i] for i in block)
        current = []
        for p in prompts:
            rows = (len(current) + 1) * len(block)
            if current and (rows * width > batch_tokens or (len(current) + 1) * prompt_lengths[p] > batch_tokens):
                blocks.append((current, block))
                current = []
            current.append(p)
        blocks.append((current, block))
    return blocks


def prompts_answer_logprobs(model, tokenizer, prompts: list[list[dict]], answers: list[tuple[str, bool]], *,
                            adapter: str | None = None, batch_tokens: int = 4096) -> list[list[float]]:
    """Per prompt (chat messages), the summed log-probability of each (answer text, finished) after it, under `model`
    with `adapter` (None: the base model): out[p][a]. A block of prompts is prefilled once, left-padded, and its
    cache repeated for the block's answers; at most `batch_tokens` answer positions are scored per forward pass."""
    import torch
    from transformers import DynamicCache

    from metasft.models.chat import encode_chat, end_of_turn_id

    if not answers or not prompts:
        return [[] for _ in prompts]
    end = end_of_turn_id(tokenizer)
    encoded = [encode_chat(tokenizer, m, add_generation_prompt=True) for m in prompts]
    if min(map(len, encoded)) < 2:
        raise ValueError("a chat prompt of fewer than 2 tokens: the chat template renders nothing around the question")
    # An answer's tokens follow the generation prompt, which ends every prompt alike: tokenized once, after the
    # first prompt (rendering the chat per prompt and answer took most of a tiny model's time).
    targets = [completion_ids(tokenizer, encoded[0], prompts[0], text, finished, end) for text, finished in answers]
    lm = _causal_lm(model)
    decoder, lm_head = lm.get_decoder(), lm.get_output_embeddings()
    # transformers renamed the forward's `past_key_values` to `cache` (5.2x); pass whichever it takes
    cache_kwarg = "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"
    device = lm.device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    answer_lengths = [len(t) for t in targets]
    scores = [[0.0] * len(answers) for _ in prompts]
    with torch.inference_mode(), adapter_active(model, adapter):
        for prompt_block, answer_block in _batches([len(e) for e in encoded], answer_lengths, batch_tokens):
            # Prefill every prompt but its last token, left-padded; positions count real tokens only.
            heads = [encoded[p][:-1] for p in prompt_block]
            head_width = max(map(len, heads))
            head_ids = torch.full((len(heads), head_width), pad, dtype=torch.long)
            head_mask = torch.zeros((len(heads), head_width), dtype=torch.long)
            for r, ids in enumerate(heads):
                head_ids[r, head_width - len(ids):] = torch.tensor(ids)
                head_mask[r, head_width - len(ids):] = 1
            head_ids, head_mask = head_ids.to(device), head_mask.to(device)
            cache = DynamicCache()
            decoder(input_ids=head_ids, attention_mask=head_mask, position_ids=(head_mask.cumsum(1) - 1).clamp(min=0),
                    use_cache=True, **{cache_kwarg: cache})
            cache.batch_repeat_interleave(len(answer_block))
            # Each row: a prompt's last token, then one answer, right-padded (causal attention keeps the padding
            # out of every real position).
            width = 1 + max(answer_lengths[a] for a in answer_block)
            rows = torch.full((len(prompt_block) * len(answer_block), width), pad, dtype=torch.long)
            lengths = []
            for r, (p, a) in enumerate((p, a) for p in prompt_block for a in answer_block):
                rows[r, :1 + len(targets[a])] = torch.tensor([encoded[p][-1], *targets[a]])
                lengths.append(len(targets[a]))
            rows = rows.to(device)
            mask = torch.cat([head_mask.repeat_interleave(len(answer_block), dim=0),
                              torch.ones_like(rows)], dim=1)
            start = torch.tensor([len(h) for h in heads], device=device).repeat_interleave(len(answer_block))
            positions = start[:, None] + torch.arange(width, device=device)[None, :]
            hidden = decoder(input_ids=rows, attention_mask=mask, position_ids=positions, use_cache=True,
                             **{cache_kwarg: cache}).last_hidden_state
            lengths = torch.tensor(lengths, device=device)
            predicts = torch.arange(width - 1, device=device)[None, :] < lengths[:, None]  # position j: token j+1
            next_tokens = rows[:, 1:][predicts]
            logits = lm_head(hidden[:, :-1][predicts]).float()
            token_logprobs = torch.log_softmax(logits, dim=-1).gather(1, next_tokens[:, None]).squeeze(1)
            owner = torch.arange(len(rows), device=device)[:, None].expand(-1, width - 1)[predicts]
            sums = torch.zeros(len(rows), dtype=torch.float64, device=device).index_add_(
                0, owner, token_logprobs.double()).tolist()
            for r, (p, a) in enumerate((p, a) for p in prompt_block for a in answer_block):
                scores[p][a] = sums[r]
    return scores
