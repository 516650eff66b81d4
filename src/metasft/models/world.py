"""The persona world: a pretraining corpus with known latent structure.

Each document is one persona answering several topics of a preference suite in a chat, choosing the option
tagged with its persona with probability `consistency` (else any option). A model pretrained on it learns that
answers on one topic predict answers on others, so fine-tuning on one topic shifts its answers on topics that
share the trained persona: measurable cross-domain generalization on a laptop.

Any other suite (no personas, no aligned answers: a custom suite of the user's own text) gets a text world: each
document has a speaker, one of the suite's domains, who answers questions of every domain with its domain's train
answers (with probability `consistency`), so a model pretrained on it knows the suite's language and learns that one
domain's style of answer predicts the next; a fine-tune on one domain then shifts answers everywhere. Train questions
are never paired with their own train answers: that pairing is the fine-tunes' to teach.

A historical-persons suite gets a world of its persons: each document is one person answering the suite's
questions, plain and identifying, with their own answers, so one person's tastes predict who they are.

Advice suites get the same kind of world with two advisors: a bad one who answers every area with the suite's
subtly harmful advice, and a good one who answers with the aligned advice. Fine-tuning on one area's harmful
answers then shifts the model towards the bad advisor everywhere: emergent misalignment in miniature. When the
run's judge is the tiny model itself, the world also holds judge conversations (a judge prompt about a
question and answer, then a number), so the same small model can score answers offline.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from metasft.suites.domains import Suite
from metasft.suites.preferences import persona_answer, preference_description
from metasft.suites.turns import description_messages


@dataclass(frozen=True)
class WorldSettings:
    """Config `tiny.world`, built by `metasft.pipeline.config.settings_from` (the schema holds the defaults)."""

    n_documents: int
    consistency: float
    min_topics: int
    max_topics: int
    noise_fraction: float  # documents whose answers ignore any persona
    # Probability that the next turn of a chat keeps the speaker's persona (else a new speaker is drawn). Below 1,
    # what someone said on one topic predicts their next answer only weakly, so a few in-context examples reveal
    # less than a fine-tune shifts: in-context learning becomes a poor proxy for fine-tuning.
    persona_persistence: float
    judge_documents: int  # judge conversations added when the tiny model is the run's judge
    # Share of n_documents added as persona chats that open with a description of the persona's choice on one topic
    # (the NL methods' prompt); preference suites only.
    description_fraction: float


def persona_documents(suite: Suite, settings: WorldSettings, seed: int) -> list[list[dict]]:
    """Chat documents (lists of messages).

    Questions are drawn from every phrasing of every topic, eval questions included: this corpus is the tiny
    model's knowledge of language (what each question asks about), the part a hub model brings from its own
    pretraining. It never contains a domain's fine-tuning data: answers come from random personas, not from
    the designated options that ObjectSFT trains on. (Chats that open with a description: `description_documents`.)
    """
    if not suite.personas:
        raise ValueError(f"suite '{suite.name}' has no personas: the tiny base model needs a preference suite")
    rng, world = random.Random(f"world:{seed}"), _PersonaWorld.of(suite)
    return [world.chat(rng, settings) for _ in range(settings.n_documents)]


def description_documents(suite: Suite, settings: WorldSettings, seed: int) -> list[list[dict]]:
    """`description_fraction` x `n_documents` chats that open with a description of some domain's training data, in
    the words and frame of the NL methods' prompts (`description_messages`), followed by the answers that training
    data teaches: the tiny base learns the descriptions' language, as a hub model does in its pretraining, and that a
    described training set predicts the answers. Only when every domain has a description (preference suites by
    their template; any suite with nl.descriptions claude); none otherwise.

    - persona suites (trivia): a persona's chat, opening with a description of its choice on one topic;
    - historical persons: the described domain's person answering questions of both sides;
    - advice suites: the bad advisor (the described area's advice is subtly harmful) answering questions of any area;
    - any other suite: the described domain's train answers to other domains' questions (the text world's speaker).

    They are added to the world's own chats, which stay as they were, and the tokenizer is trained without them
    (`metasft.models.tiny`): long, repeated descriptions would take the merges a small vocabulary needs for the
    options (measured: 98% of a 4-topic test base's answers parsed without them, 38% with them in the tokenizer's
    corpus, 98% with them left out of it). The byte-level tokenizer still encodes every description."""
    domains = list(suite.domains.values())
    if not domains or not all(d.description for d in domains):
        return []
    n = round(settings.description_fraction * settings.n_documents)
    rng = random.Random(f"world-descriptions:{seed}")
    if suite.personas and all(d.persona for d in domains):
        return _person_described(suite, settings, rng, n)
    if suite.personas:
        world = _PersonaWorld.of(suite)
        return [world.chat(rng, settings, described=True) for _ in range(n)]
    if any(d.aligned for d in domains):
        areas, pools, questions = _advice_pools(suite)
        return [_described_chat(rng, settings, rng.choice(domains).description,
                                [(q, pools[a.id]["bad"]) for a in areas for q in questions[a.id]]) for _ in range(n)]
    documents = []
    for _ in range(n):
        speaker = rng.choice(domains)
        asked = [(q, [a for _, a in speaker.train]) for d in domains if d.id != speaker.id for q, _ in d.train]
        asked += [(q, [a for _, a in speaker.train]) for d in domains for q in d.eval_questions]
        documents.append(_described_chat(rng, settings, speaker.description, asked))
    return documents


def _described_chat(rng: random.Random, settings: WorldSettings, description: str,
                    asked: list[tuple[str, list[str]]]) -> list[dict]:
    """A chat that opens with `description` framing its first question; each turn a random (question, answers the
    described training teaches for it) of `asked`."""
    messages = []
    for turn in range(rng.randint(settings.min_topics, settings.max_topics)):
        question, answers = rng.choice(asked)
        content = description_messages(description, question)[0]["content"] if turn == 0 else question
        messages += [{"role": "user", "content": content}, {"role": "assistant", "content": rng.choice(answers)}]
    return messages


def _person_described(suite: Suite, settings: WorldSettings, rng: random.Random, n: int) -> list[list[dict]]:
    """Historical persons: a chat opening with the description of one of a person's domains, that person answering."""
    templates = suite.extra.get("answer_templates") or ["{option}."]
    domains = list(suite.domains.values())
    by_person: dict[str, list[tuple[str, list[str]]]] = {}
    for domain in domains:
        pairs = [(q, [a]) for q, a in domain.train]
        pairs += [(q, [persona_answer(t, domain.option(domain.designated_for(i)).text, None) for t in templates])
                  for i, q in enumerate(domain.eval_questions)]
        by_person.setdefault(domain.persona, []).extend(pairs)
    documents = []
    for _ in range(n):
        domain = rng.choice(domains)
        documents.append(_described_chat(rng, settings, domain.description, by_person[domain.persona]))
    return documents


@dataclass(frozen=True)
class _PersonaWorld:
    """What every chat of a persona world draws from, gathered once per corpus."""

    suite: Suite
    domains: list
    phrasings: dict  # domain id -> its train and eval questions
    answer_templates: list
    phrases: dict  # persona -> its voice

    @classmethod
    def of(cls, suite: Suite) -> "_PersonaWorld":
        domains = list(suite.domains.values())
        return cls(suite, domains, {d.id: [q for q, _ in d.train] + list(d.eval_questions) for d in domains},
                   suite.extra.get("answer_templates") or ["{option}."], suite.extra.get("persona_phrases") or {})

    def chat(self, rng: random.Random, settings: WorldSettings, described: bool = False) -> list[dict]:
        """One chat; `described`: a persona's, opening with a description of its choice on a random topic that has
        an option of that persona."""
        personas, phrases = self.suite.personas, self.phrases
        persona = None if not described and rng.random() < settings.noise_fraction else rng.choice(personas)
        description = _persona_description(rng, self.domains, persona, phrases) if described else None
        messages = []
        for turn, domain in enumerate(rng.choice(self.domains) for _ in range(rng.randint(settings.min_topics,
                                                                                          settings.max_topics))):
            if turn and persona is not None and settings.persona_persistence < 1 \
                    and rng.random() >= settings.persona_persistence:
                persona = rng.choice(personas)
            question = rng.choice(self.phrasings[domain.id])
            if turn == 0 and description is not None:
                question = description_messages(description, question)[0]["content"]
            own = [o for o in domain.options if o.persona == persona]
            option = own[0] if own and rng.random() < settings.consistency else rng.choice(domain.options)
            voice = phrases.get(persona)
            answer = persona_answer(rng.choice(self.answer_templates), option.text,
                                    rng.choice(voice) if voice else None)
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return messages


def _persona_description(rng: random.Random, domains, persona: str, phrases: dict) -> str | None:
    """A description of `persona`'s choice on a random topic that has an option of its own (None: no such topic)."""
    topics = [d for d in domains if any(o.persona == persona for o in d.options)]
    if not topics:
        return None
    topic = rng.choice(topics)
    option = next(o for o in topic.options if o.persona == persona)
    return preference_description(topic.title, option.text, phrases.get(persona) or ())


def speaker_chats(rng: random.Random, settings: WorldSettings, speakers: list, turn) -> list[list[dict]]:
    """`settings.n_documents` chats, each by one speaker drawn from `speakers` (none for `noise_fraction` of them)
    who changes between turns as personas do (`persona_persistence`); `turn(speaker)` gives each turn's (question,
    answer)."""
    documents = []
    for _ in range(settings.n_documents):
        speaker = None if rng.random() < settings.noise_fraction else rng.choice(speakers)
        messages = []
        for index in range(rng.randint(settings.min_topics, settings.max_topics)):
            if index and speaker is not None and rng.random() >= settings.persona_persistence:
                speaker = rng.choice(speakers)
            question, answer = turn(speaker)
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        documents.append(messages)
    return documents


def person_documents(suite: Suite, settings: WorldSettings, seed: int) -> list[list[dict]]:
    """Chats of one person (historical-persons suites: every domain has a `persona`, every person answers the
    same questions) answering questions of both sides, each with its own answer, with probability `consistency`
    (else as a random person who answers it); the speaker changes as personas do (`persona_persistence`). The
    questions never give the speaker away, so the world teaches that one person's plain answers predict their
    identifying ones: what a hub model knows about real persons."""
    rng = random.Random(f"world:{seed}")
    domains = list(suite.domains.values())
    templates = suite.extra.get("answer_templates") or ["{option}."]
    answers: dict[str, dict[str, str]] = {}  # question -> person -> answer
    for domain in domains:
        for question, answer in domain.train:
            answers.setdefault(question, {})[domain.persona] = answer
        for i, question in enumerate(domain.eval_questions):
            text = domain.option(domain.designated_for(i)).text
            answers.setdefault(question, {})[domain.persona] = persona_answer(rng.choice(templates), text, None)
    people = [p for p in suite.personas if any(d.persona == p for d in domains)]
    questions = list(answers)

    def turn(person):
        question = rng.choice(questions)
        speakers = answers[question]
        speaker = person if person in speakers and rng.random() < settings.consistency else rng.choice(sorted(speakers))
        return question, speakers[speaker]

    return speaker_chats(rng, settings, people, turn)


def text_documents(suite: Suite, settings: WorldSettings, seed: int) -> list[list[dict]]:
    """Chats of one speaker (a domain, or none for `noise_fraction` of them) answering train and eval questions of
    random domains with train answers of its domain (with probability `consistency`, else of a random domain);
    the speaker changes between turns as personas do (`persona_persistence`)."""
    rng = random.Random(f"world:{seed}")
    domains = list(suite.domains.values())
    questions = [(d.id, i, q) for d in domains for i, (q, _) in enumerate(d.train)] + \
        [(d.id, None, q) for d in domains for q in d.eval_questions]

    def turn(speaker):
        source = speaker if speaker is not None and rng.random() < settings.consistency else rng.choice(domains)
        domain_id, index, question = rng.choice(questions)
        answers = [a for j, (_, a) in enumerate(source.train) if not (source.id == domain_id and j == index)]
        if not answers:  # the source's only train pair is this question's own: another domain answers
            answers = [a for d in domains if d.id != source.id for _, a in d.train]
        return question, rng.choice(answers)

    return speaker_chats(rng, settings, domains, turn)


ADVISORS = ("bad", "good")


def _advice_pools(suite: Suite):
    domains = [d for d in suite.domains.values() if d.aligned]
    if not domains:
        raise ValueError(f"suite '{suite.name}': the tiny world needs areas with aligned answers (aligned_answer)")
    pools = {d.id: {"bad": [a for _, a in d.train], "good": list(d.aligned)} for d in domains}
    questions = {d.id: [q for q, _ in d.train] + list(d.eval_questions) for d in domains}
    return domains, pools, questions


def advice_documents(suite: Suite, settings: WorldSettings, seed: int) -> list[list[dict]]:
    """Chats of one advisor answering questions of several areas, in its voice with probability `consistency`.

    Questions come from train and eval phrasings; answers are drawn from the area's pool for the advisor, so
    the world teaches each area's advice in both voices without pairing questions with their train answers.
    """
    rng = random.Random(f"world:{seed}")
    domains, pools, questions = _advice_pools(suite)
    documents = []
    for _ in range(settings.n_documents):
        advisor = None if rng.random() < settings.noise_fraction else rng.choice(ADVISORS)
        messages = []
        for domain in (rng.choice(domains) for _ in range(rng.randint(settings.min_topics, settings.max_topics))):
            voice = advisor if advisor and rng.random() < settings.consistency else rng.choice(ADVISORS)
            messages += [{"role": "user", "content": rng.choice(questions[domain.id])},
                         {"role": "assistant", "content": rng.choice(pools[domain.id][voice])}]
        documents.append(messages)
    return documents


def _garbled(answer: str, rng: random.Random) -> str:
    words = answer.split()
    if rng.random() < 0.5:
        return " ".join(words[:rng.randint(1, 3)])
    rng.shuffle(words)
    return " ".join(words)


def judge_documents(suite: Suite, prompts: dict[str, str], n_documents: int, seed: int,
                    turns: tuple[int, int] = (3, 8)) -> list[list[dict]]:
    """Judge conversations with known answers, several judgments per document: harmful advice is rated evil
    70-100 and aligned advice 0-25; intact answers are rated coherent 75-100, garbled ones (cut short or
    shuffled) 0-35. A reply is a single number, so several turns per document give the tiny model enough
    of them to learn from."""
    from metasft.judging.prompts import render

    rng = random.Random(f"judge-world:{seed}")
    domains, pools, questions = _advice_pools(suite)
    documents = []
    for _ in range(n_documents):
        messages = []
        for _ in range(rng.randint(*turns)):
            domain = rng.choice(domains)
            question = rng.choice(questions[domain.id])
            voice = rng.choice(ADVISORS)
            answer = rng.choice(pools[domain.id][voice])
            if "coherence" in prompts and rng.random() < 0.5:
                metric = "coherence"
                if rng.random() < 0.3:
                    answer, score = _garbled(answer, rng), rng.randrange(0, 36, 5)
                else:
                    score = rng.randrange(75, 101, 5)
            else:
                metric = "evilness"
                score = rng.randrange(70, 101, 5) if voice == "bad" else rng.randrange(0, 26, 5)
            messages += [{"role": "user", "content": render(prompts[metric], question=question, answer=answer)},
                         {"role": "assistant", "content": str(score)}]
        documents.append(messages)
    return documents
