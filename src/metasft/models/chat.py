"""Chat formatting: the chat-template rendering every stage shares, the templates for base models that ship
none, and SFT examples (prompt + completion) in that template. The ObjectICL prompt layout is
`metasft.methods.prompts`.

Every chat prompt of the pipeline (SFT data, sampling prompts, MetaSFT prompts, judge prompts) is rendered by
`render_chat`, with the run's `chat` settings (config `chat`) attached to the tokenizer when it is loaded, so no
call site can render a prompt differently from another.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


CHATML_SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>")


# For a model with no chat template and no ChatML tokens: plain-text role headers, turns ended by the model's own
# (trained) EOS token, so no token is added whose embedding LoRA could not train (the model could not learn to
# stop). The generation prompt ends at "Assistant:" and the answer brings its leading space, so the prompt alone
# tokenizes as a prefix of prompt + answer.
PLAIN_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}"
    "{% for message in messages %}"
    "{{ message['role'] | capitalize + ': ' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


_SETTINGS_ATTRIBUTE = "metasft_chat"
_PROBE = "METASFTENDOFTURNPROBE"


@dataclass(frozen=True)
class ChatSettings:
    """Config `chat`: variables passed to the chat template on every render. `enable_thinking` is read by
    templates with a reasoning mode (Qwen3: false renders an empty think block after the generation prompt, so
    the model answers at once); templates that do not use it ignore it."""

    enable_thinking: bool

    def template_kwargs(self) -> dict:
        return asdict(self)


@functools.cache
def _default_chat_settings() -> ChatSettings:
    from metasft.pipeline.config import schema_defaults, settings_from

    return settings_from(ChatSettings, schema_defaults()["chat"], "chat")


def to_chat_settings(chat: dict | ChatSettings | None) -> ChatSettings:
    """Config `chat` as settings; None (a caller outside a run, e.g. a test) means the schema's defaults."""
    from metasft.pipeline.config import settings_from

    if isinstance(chat, ChatSettings):
        return chat
    return _default_chat_settings() if chat is None else settings_from(ChatSettings, chat, "chat")


def set_chat_settings(tokenizer, settings: dict | ChatSettings | None) -> None:
    """Attach the run's chat settings to `tokenizer`: `render_chat` uses them for every prompt it renders."""
    setattr(tokenizer, _SETTINGS_ATTRIBUTE, to_chat_settings(settings))


def chat_settings(tokenizer) -> ChatSettings:
    """The settings attached to `tokenizer`; the schema's defaults for one that has none (the tiny model's fresh
    tokenizer while it is pretrained)."""
    return getattr(tokenizer, _SETTINGS_ATTRIBUTE, None) or to_chat_settings(None)


def render_chat(tokenizer, messages: list[dict], add_generation_prompt: bool) -> str:
    """The one way the pipeline renders a conversation: the tokenizer's chat template with the chat settings."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                         **chat_settings(tokenizer).template_kwargs())


def encode_chat(tokenizer, messages: list[dict], add_generation_prompt: bool) -> list[int]:
    """Token ids of `render_chat` (the template carries its own special tokens, so none are added)."""
    return tokenizer(render_chat(tokenizer, messages, add_generation_prompt), add_special_tokens=False)["input_ids"]


def sft_examples(tokenizer, prompts: list[list[dict]], completions: list[str]) -> list[dict]:
    """Tokenized prompt-completion training examples: per example the whole conversation's ids, and a mask that
    is 1 on the completion. The prompt part is exactly the ids sampling uses (`encode_chat` with the generation
    prompt), so the model is trained where it will be asked to answer; a template that renders the prompt
    differently alone is an error, not a silent mismatch. Prompts shared by several examples are encoded once."""
    import json

    prompt_ids: dict[str, list[int]] = {}
    keys = [json.dumps(p) for p in prompts]
    for key, prompt in zip(keys, prompts):
        if key not in prompt_ids:
            prompt_ids[key] = encode_chat(tokenizer, prompt, add_generation_prompt=True)
    texts = [render_chat(tokenizer, [*p, {"role": "assistant", "content": c}], add_generation_prompt=False)
             for p, c in zip(prompts, completions)]
    examples = []
    for key, ids in zip(keys, tokenizer(texts, add_special_tokens=False)["input_ids"]):
        prompt = prompt_ids[key]
        if ids[:len(prompt)] != prompt or len(ids) == len(prompt):
            raise ValueError(
                "the chat template does not render the sampling prompt as a prefix of prompt + answer (chat settings "
                f"{chat_settings(tokenizer).template_kwargs()}): training would see another context than sampling. "
                f"Prompt: {tokenizer.decode(prompt)!r}; conversation: {tokenizer.decode(ids)!r}")
        examples.append({"input_ids": ids, "completion_mask": [0] * len(prompt) + [1] * (len(ids) - len(prompt))})
    return examples


def ensure_chat_template(tokenizer) -> str:
    """Give the tokenizer a chat template when it ships none; never add tokens. Returns which template it uses:
    "own" (the model's), "chatml" (the model knows ChatML's tokens) or "plain" (role headers, EOS-ended turns)."""
    if getattr(tokenizer, "chat_template", None):
        return "own"
    vocab = tokenizer.get_vocab()
    if all(t in vocab for t in CHATML_SPECIAL_TOKENS):
        tokenizer.chat_template = CHATML_TEMPLATE
        return "chatml"
    if tokenizer.eos_token is None:
        raise ValueError("the base model's tokenizer has no chat template, no ChatML tokens and no EOS token: "
                         "no turn could end; use a model with a chat template or an EOS token")
    tokenizer.chat_template = PLAIN_TEMPLATE
    return "plain"


def end_of_turn_id(tokenizer) -> int | None:
    """The token that ends an assistant turn in the chat template (ChatML `<|im_end|>`, Llama-3 `<|eot_id|>`, the
    EOS of the plain template): the first token after an assistant message when it is a special or added token,
    else the EOS token."""
    text = render_chat(tokenizer, [{"role": "user", "content": "?"}, {"role": "assistant", "content": _PROBE}], False)
    if _PROBE in text:
        after = tokenizer(text.rsplit(_PROBE, 1)[1], add_special_tokens=False)["input_ids"]
        special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
        if after and after[0] in special:
            return after[0]
    return tokenizer.eos_token_id
