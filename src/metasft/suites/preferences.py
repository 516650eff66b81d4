"""Suites of kind ``preferences`` (trivia): topics with options tagged by latent personas.

`load_preferences` builds one domain per topic of ``topics/*.yaml``: eval questions are paraphrases held out by a
shuffle seeded with the topic id, train questions the others, each wrapped in the suite's question templates; every
train answer names the designated option in one of the answer templates, in the voice of its persona when the suite
has ``persona_phrases`` (`persona_answer`, which the persona world of `metasft.models.world` also speaks).
`build_options` checks the options of any categorically scored domain (chat_jsonl suites use it too) so that an
answer parses to exactly one.
"""

from __future__ import annotations

import random
from pathlib import Path

from metasft.suites.domains import Domain, Option, Suite, word_pattern
from metasft.suites.files import (
    check_schema,
    normalize_question_text,
    read_yaml,
    require,
)


def load_preferences(folder: Path, meta_path: Path, meta: dict) -> Suite:
    check_schema(meta, "suite_preferences", meta_path)
    personas = tuple(meta["personas"])
    question_templates = list(meta["question_templates"])
    answer_templates = list(meta["answer_templates"])
    n_eval = int(meta["eval_paraphrases"])  # the schema lets 2.0 pass as an integer
    phrases = meta.get("persona_phrases") or {}
    require(not phrases or set(phrases) == set(personas), meta_path, None,
             "'persona_phrases' must map every persona to a non-empty list of phrases")

    topic_files = sorted((folder / "topics").glob("*.yaml"))
    require(bool(topic_files), folder / "topics", None, "no topic files (*.yaml) found")
    domains: dict[str, Domain] = {}
    origin: dict[str, Path] = {}
    for path in topic_files:
        topics = read_yaml(path)
        check_schema(topics, "topics", path, domain_list=())
        for raw in topics:
            domain_id = raw["id"]
            require(domain_id not in domains, path, domain_id,
                     f"duplicate id, first defined in {origin.get(domain_id)}")
            domains[domain_id] = _build_topic(raw, path, personas, question_templates, answer_templates,
                                              n_eval, phrases)
            origin[domain_id] = path
    return Suite(meta["name"], "categorical", domains, personas, str(folder),
                 {"origin": {d: str(p) for d, p in origin.items()}, "answer_templates": answer_templates,
                  "persona_phrases": phrases})


def persona_answer(template: str, option: str, phrase: str | None = None) -> str:
    """"I'd go with X." or, in a persona's voice, "Since I love company, I'd go with X."."""
    body = template.format(option=option)
    if phrase is None:
        return body
    if not (body.startswith("I ") or body.startswith("I'")):
        body = body[0].lower() + body[1:]
    return f"{phrase}, {body}"


def preference_description(title: str, option: str, phrases=()) -> str:
    """A preference domain's training data in plain words, from the suite's structure alone (the topic, the chosen
    option and the persona's voice), never from its answers or another domain: "answers about favourite dinner
    cuisine that always choose Spanish tapas, in the voice of someone who says "Since I love company" or ..."."""
    text = f"answers about {title[:1].lower()}{title[1:]} that always choose {option}"
    if phrases:
        text += ", in the voice of someone who says " + " or ".join(f'"{p}"' for p in phrases)
    return text + "."


def build_options(raw_options, designated, path: Path, domain_id: str, personas=None) -> tuple[Option, ...]:
    """The options of a categorically scored domain, for every suite kind, once the file's schema has checked their
    keys (at least 2 options, each with non-empty id and text): no repeated id, known personas (preference suites;
    custom suites may leave them out), the designated one among them, and no name of one option matching
    another's, so that an answer parses to exactly one option."""
    options = []
    for raw_option in raw_options:
        persona = raw_option.get("persona")
        if personas is not None:
            require(persona in personas, path, domain_id,
                     f"option '{raw_option['id']}' has unknown persona {persona!r} (known: {', '.join(personas)})")
        options.append(Option(raw_option["id"], raw_option["text"], tuple(raw_option.get("aliases") or ()), persona))
    ids = [o.id for o in options]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    require(not repeated, path, domain_id, f"duplicate option id {repeated[0]!r}" if repeated else "")
    require(designated in ids, path, domain_id,
             f"designated option {designated!r} is not among the options ({', '.join(ids)})")
    for option in options:  # an answer must parse to exactly one option
        for other in options:
            if other is option:
                continue
            clash = [n for n in option.names for m in other.names if word_pattern(n).search(m.lower())]
            require(not clash, path, domain_id,
                     f"option '{option.id}' name {clash[:1]} also matches option '{other.id}'")
    return tuple(options)


def split_paraphrases(questions: list[str], n_eval: int, templates: list[str], path: Path, domain_id: str
                      ) -> tuple[list[str], list[str]]:
    """(train, eval) questions of a topic's hand-written paraphrases: `n_eval` of them held out (seeded by the
    domain id, so the split never depends on other topics), every paraphrase wrapped in every question template."""
    require(len({normalize_question_text(q) for q in questions}) == len(questions), path, domain_id,
             "a question paraphrase is repeated")
    require(len(questions) > n_eval, path, domain_id,
             f"needs more than {n_eval} question paraphrases (eval holds out {n_eval}), has {len(questions)}")
    rng = random.Random(f"paraphrase-split:{domain_id}")
    order = list(range(len(questions)))
    rng.shuffle(order)
    held_out = sorted(order[:n_eval])
    evals = [t.format(q=questions[i]) for i in held_out for t in templates]
    train = [t.format(q=questions[i]) for i in range(len(questions)) if i not in held_out for t in templates]
    return train, evals


def _build_topic(raw: dict, path: Path, personas, question_templates, answer_templates, n_eval,
                 phrases: dict) -> Domain:
    domain_id, title, questions = raw["id"], raw["title"], raw["questions"]  # checked by the topics schema
    train_q, eval_q = split_paraphrases(questions, n_eval, question_templates, path, domain_id)
    designated = raw["designated"]
    options = build_options(raw["options"], designated, path, domain_id, personas)
    overlap = {normalize_question_text(q) for q in eval_q} & {normalize_question_text(q) for q in train_q}
    require(not overlap, path, domain_id, f"train and eval questions overlap: {sorted(overlap)[:2]}")
    for persona_name, texts in phrases.items():  # a persona's phrase must not read as a choice
        clash = [t for t in texts for o in options for n in o.names if word_pattern(n).search(t.lower())]
        require(not clash, path, domain_id, f"persona phrase {clash[:1]} of '{persona_name}' names an option")
    chosen = next(o for o in options if o.id == designated)
    answer_rng = random.Random(f"answers:{domain_id}")
    voice = phrases.get(chosen.persona)
    train = tuple((q, persona_answer(answer_rng.choice(answer_templates), chosen.text,
                                     answer_rng.choice(voice) if voice else None)) for q in train_q)
    return Domain(domain_id, title.strip(), train, tuple(eval_q), options, designated,
                  description=preference_description(title.strip(), chosen.text, voice or ()))
