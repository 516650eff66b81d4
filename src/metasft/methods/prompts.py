"""The prompt each source is sampled with: ObjectSFT (the question alone), ObjectICL (k train pairs of T as prior
turns) and the description prompt (T's training data in plain words, then E's question: the NL methods)."""

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


# How a description of the training data frames an eval question. The tiny world speaks it too
# (`metasft.models.world`), as a hub model's pretraining holds the language of such questions.
DESCRIPTION_FRAME = "Suppose you had been fine-tuned on {description}\n{question}"


def description_messages(description: str, question: str) -> list[dict]:
    """T's training data described in plain words, then one eval question of E, as one user turn."""
    return single_turn(DESCRIPTION_FRAME.format(description=description, question=question))


class MissingDescription(ValueError):
    """An NL method was asked about a train domain that has no description."""


def description_prompts(suite: Suite, train_domain: str, icl_k: int, seed: int):
    """The NL methods (UntrainedNL, MetaSFT->NL, MetaSFT-NL): T's description, then E's eval question. The
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
    """The one prompt `source` answers for (T, E, question): the same messages as its entry in `PROMPTS[source]`
    (inverse prediction scores answers after exactly the prompt the method predicts with)."""
    question = suite.domains[eval_domain].eval_questions[question_index]
    if source == "golden":
        return single_turn(question)
    if source in NL_SOURCES:
        description = suite.domains[train_domain].description
        if description is None:
            raise MissingDescription(f"domain '{train_domain}' of suite '{suite.name}' has no description of its "
                                     "training data: the NL methods need one (config nl.enabled)")
        return description_messages(description, question)
    return object_icl_messages(icl_examples(suite.domains[train_domain], icl_k, seed, eval_domain, question_index),
                               question)


PROMPTS = {"golden": golden_prompts, "UntrainedICL": icl_prompts, "MetaSFT": icl_prompts,
           "UntrainedNL": description_prompts, "MetaSFT-to-NL": description_prompts,
           "MetaSFT-NL": description_prompts}
# The sources that answer description prompts, each sampled only when config nl.enabled.
NL_SOURCES = ("UntrainedNL", "MetaSFT-to-NL", "MetaSFT-NL")
# The adapter each source's requests name (golden: T's own); a named adapter is merged into the weights.
SOURCE_ADAPTER = {"golden": None, "UntrainedICL": None, "MetaSFT": "MetaSFT", "UntrainedNL": None,
                  "MetaSFT-to-NL": "MetaSFT", "MetaSFT-NL": "MetaSFT-NL"}
# A source's name as a method in metrics.csv where it differs from its folder name (">" is no name for a folder).
METHOD_OF_SOURCE = {"MetaSFT-to-NL": "MetaSFT->NL"}


SOURCE_OF_METHOD = {method: source for source, method in METHOD_OF_SOURCE.items()}


def method_name(source: str) -> str:
    return METHOD_OF_SOURCE.get(source, source)


def source_of(method: str) -> str:
    """A method's answer folder / source name (MetaSFT->NL -> MetaSFT-to-NL)."""
    return SOURCE_OF_METHOD.get(method, method)
