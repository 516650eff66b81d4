"""The persona world: a pretraining corpus with known latent structure.

Each document is one persona answering several topics of a preference suite in a chat, choosing the option
tagged with its persona with probability `consistency` (else any option). A model pretrained on it learns that
answers on one topic predict answers on others, so fine-tuning on one topic shifts its answers on topics that
share the trained persona: measurable cross-domain generalization on a laptop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from metasft.suite import Suite, persona_answer


@dataclass(frozen=True)
class WorldSettings:
    n_documents: int = 20000
    consistency: float = 0.85
    min_topics: int = 1
    max_topics: int = 6
    noise_fraction: float = 0.1  # documents whose answers ignore any persona


def persona_documents(suite: Suite, settings: WorldSettings, seed: int) -> list[list[dict]]:
    """Chat documents (lists of messages).

    Questions are drawn from every phrasing of every topic, eval questions included: this corpus is the tiny
    model's knowledge of language (what each question asks about), the part a hub model brings from its own
    pretraining. It never contains a domain's fine-tuning data: answers come from random personas, not from
    the designated options that ObjectSFT trains on.
    """
    if not suite.personas:
        raise ValueError(f"suite '{suite.name}' has no personas: the tiny base model needs a preference suite")
    rng = random.Random(f"world:{seed}")
    domains = list(suite.domains.values())
    phrasings = {d.id: [q for q, _ in d.train] + list(d.eval_questions) for d in domains}
    answer_templates = suite.extra.get("answer_templates") or ["{option}."]
    phrases = suite.extra.get("persona_phrases") or {}
    documents = []
    for _ in range(settings.n_documents):
        persona = None if rng.random() < settings.noise_fraction else rng.choice(suite.personas)
        n_topics = rng.randint(settings.min_topics, settings.max_topics)
        messages = []
        for domain in (rng.choice(domains) for _ in range(n_topics)):
            question = rng.choice(phrasings[domain.id])
            own = [o for o in domain.options if o.persona == persona]
            option = own[0] if own and rng.random() < settings.consistency else rng.choice(domain.options)
            voice = phrases.get(persona)
            answer = persona_answer(rng.choice(answer_templates), option.text, rng.choice(voice) if voice else None)
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        documents.append(messages)
    return documents
