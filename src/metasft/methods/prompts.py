"""The prompt each source is sampled with: ObjectSFT (the question alone) and ObjectICL (k train pairs of T as prior turns)."""

from __future__ import annotations

from metasft.suites.domains import Suite, icl_examples


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


def golden_prompts(suite: Suite, train_domain: str, icl_k: int, seed: int):
    """ObjectSFT golden labels: `M_T` sees E's eval question alone."""
    return [(e.id, qi, single_turn(q)) for e in suite.domains.values() for qi, q in enumerate(e.eval_questions)]


def icl_prompts(suite: Suite, train_domain: str, icl_k: int, seed: int):
    """ObjectICL: k train pairs of T as prior turns, then E's eval question (UntrainedICL and MetaSFT)."""
    t = suite.domains[train_domain]
    return [(e.id, qi, object_icl_messages(icl_examples(t, icl_k, seed, e.id, qi), q))
            for e in suite.domains.values() for qi, q in enumerate(e.eval_questions)]


PROMPTS = {"golden": golden_prompts, "UntrainedICL": icl_prompts, "MetaSFT": icl_prompts}
