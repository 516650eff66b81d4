"""Chat formatting: the ChatML template for models without one, and the ObjectICL prompt layout."""

from __future__ import annotations

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>")


def ensure_chat_template(tokenizer) -> None:
    """Give a base model's tokenizer the ChatML template when it ships none (hub base models often don't)."""
    if getattr(tokenizer, "chat_template", None):
        return
    missing = [t for t in CHATML_SPECIAL_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing})
    tokenizer.chat_template = CHATML_TEMPLATE


def single_turn(question: str) -> list[dict]:
    return [{"role": "user", "content": question}]


def object_icl_messages(examples: list[tuple[str, str]], question: str) -> list[dict]:
    """k train pairs of T as prior chat turns, then one eval question of E."""
    messages = []
    for example_question, example_answer in examples:
        messages.append({"role": "user", "content": example_question})
        messages.append({"role": "assistant", "content": example_answer})
    messages.append({"role": "user", "content": question})
    return messages
