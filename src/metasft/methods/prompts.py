"""The prompt each source is sampled with: ObjectSFT (the question alone), ObjectICL (k train pairs of T as prior
turns) and the description prompt (T's training data in plain words, then E's question: the NL methods), built from
the chat turns of `metasft.suites.turns`."""

from __future__ import annotations

from metasft.sources import BY_NAME
from metasft.suites.domains import Suite, icl_examples
from metasft.suites.turns import description_messages, object_icl_messages, single_turn


class MissingDescription(ValueError):
    """An NL method was asked about a train domain that has no description."""


def description_prompts(suite: Suite, train_domain: str, icl_k: int, seed: int):
    """The NL methods (UntrainedNL, MetaSFT-to-NL, MetaSFT-NL): T's description, then E's eval question. The
    description is T's alone, built before any answer is sampled, so it holds no eval-domain text or golden answer."""
    description = suite.domains[train_domain].description
    if description is None:
        raise MissingDescription(f"domain '{train_domain}' of suite '{suite.name}' has no description of its "
                                 "training data: the NL methods need one (config nl.enabled)")
    return [(e.id, qi, description_messages(description, q))
            for e in suite.domains.values() for qi, q in enumerate(e.eval_questions)]


def golden_prompts(suite: Suite, train_domain: str, icl_k: int, seed: int):
    """ObjectSFT golden labels: `M_T` sees E's eval question alone."""
    return [(e.id, qi, single_turn(q)) for e in suite.domains.values() for qi, q in enumerate(e.eval_questions)]


def icl_prompts(suite: Suite, train_domain: str, icl_k: int, seed: int):
    """ObjectICL: k train pairs of T as prior turns, then E's eval question (UntrainedICL and MetaSFT)."""
    t = suite.domains[train_domain]
    return [(e.id, qi, object_icl_messages(icl_examples(t, icl_k, seed, e.id, qi), q))
            for e in suite.domains.values() for qi, q in enumerate(e.eval_questions)]


def source_prompt(source: str, suite: Suite, train_domain: str, eval_domain: str, question_index: int, icl_k: int,
                  seed: int) -> list[dict]:
    """The one prompt `source` answers for (T, E, question): the same messages as its entry in `prompts_of(source)`
    (inverse prediction scores answers after exactly the prompt the method predicts with)."""
    question = suite.domains[eval_domain].eval_questions[question_index]
    kind = BY_NAME[source].prompt
    if kind == "question":
        return single_turn(question)
    if kind == "description":
        description = suite.domains[train_domain].description
        if description is None:
            raise MissingDescription(f"domain '{train_domain}' of suite '{suite.name}' has no description of its "
                                     "training data: the NL methods need one (config nl.enabled)")
        return description_messages(description, question)
    return object_icl_messages(icl_examples(suite.domains[train_domain], icl_k, seed, eval_domain, question_index),
                               question)


# The prompt functions by kind (metasft.sources: each source's `prompt`).
PROMPT_KINDS = {"question": golden_prompts, "examples": icl_prompts, "description": description_prompts}


def prompts_of(source: str):
    """The function that builds `source`'s prompts for one train domain: (suite, T, icl_k, seed) -> [(E, qi, messages)]."""
    return PROMPT_KINDS[BY_NAME[source].prompt]
