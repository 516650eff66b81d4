"""The chat turns every prompt is built from: a question alone, k (question, answer) pairs before a question
(ObjectICL), and a description of training data framing a question. Sampling, fine-tuning, meta-training and the tiny
world all speak these, so they live below all of them (the prompts each source is sampled with:
`metasft.methods.prompts`)."""

from __future__ import annotations


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


# How a description of the training data frames an eval question. The tiny world speaks it too
# (`metasft.models.world`), as a hub model's pretraining holds the language of such questions.
DESCRIPTION_FRAME = "Suppose you had been fine-tuned on {description}\n{question}"


def description_messages(description: str, question: str) -> list[dict]:
    """T's training data described in plain words, then one eval question of E, as one user turn."""
    return single_turn(DESCRIPTION_FRAME.format(description=description, question=question))
