"""The persona world: a pretraining corpus with known latent structure.

Each document is one persona answering several topics of a preference suite in a chat, choosing the option
tagged with its persona with probability `consistency` (else any option). A model pretrained on it learns that
answers on one topic predict answers on others, so fine-tuning on one topic shifts its answers on topics that
share the trained persona: measurable cross-domain generalization on a laptop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from metasft.suite import Suite


@dataclass(frozen=True)
class WorldSettings:
    n_documents: int = 20000
    consistency: float = 0.85
    min_topics: int = 1
    max_topics: int = 6
    noise_fraction: float = 0.1  # documents whose answers ignore any persona


def persona_documents(suite: Suite, settings: WorldSettings, seed: int) -> list[list[dict]]:
    """Chat documents (lists of messages). Questions come from train questions only; eval stays held out."""
    if not suite.personas:
        raise ValueError(f"suite '{suite.name}' has no personas: the tiny base model needs a preference suite")
    rng = random.Random(f"world:{seed}")
    domains = list(suite.domains.values())
    answer_templates = suite.extra.get("answer_templates") or ["{option}."]
    documents = []
    for _ in range(settings.n_documents):
        persona = None if rng.random() < settings.noise_fraction else rng.choice(suite.personas)
        n_topics = rng.randint(settings.min_topics, settings.max_topics)
        messages = []
        for domain in (rng.choice(domains) for _ in range(n_topics)):
            question = rng.choice(domain.train)[0]
            own = [o for o in domain.options if o.persona == persona]
            option = own[0] if own and rng.random() < settings.consistency else rng.choice(domain.options)
            answer = rng.choice(answer_templates).format(option=option.text)
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        documents.append(messages)
    return documents
