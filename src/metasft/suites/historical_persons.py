"""Suites of kind ``historical_persons`` (the study's 50 x 2 family): a non-identifying and an identifying domain
per person.

The suite file lists two sets of questions every person answers: ``plain`` ones (a taste, a habit: "Which pastime
do you enjoy most?") whose answers alone do not give the person away, and ``identity`` ones ("Where were you
born?") whose answers do. Each question has hand-written paraphrases, ``eval_paraphrases`` of them held out and
every one wrapped in every question template (as in preference suites). The persons file lists the persons (id,
name, a line of description); a person's answers come from ``persons/<id>.yaml`` when shipped, else from the file
rule ``generate_suite`` writes through the Anthropic API (`metasft.suites.api_generation.generate_person`); a person
with neither is *pending*.

Domain ``<person>_plain`` trains the plain questions answered as the person; ``<person>_identity`` the identity
ones. The options of a side are all persons' answers to its questions (a text given by several persons is one
option), and each eval question is scored against its own person's answer (`Domain.eval_designated`): the
propensity of (T, E) is the share of E's answers that are E's person's (another person's answer, or none, is
wrong: an accuracy). (``<p>_plain``, ``<p>_identity``) asks the study's question: does fine-tuning on harmless
facts of a person make the model answer as that person? Every domain's latent persona is its person
(`Domain.persona`), so the tiny base learns the persons as a world of speakers and same-person pairs
(`same_persona`) can be compared with the rest.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from metasft.suites.domains import Domain, Option, Suite, SuiteError, word_pattern
from metasft.suites.files import check_schema, normalize_question_text, read_yaml, require, unit_file
from metasft.suites.preferences import persona_answer, split_paraphrases

SIDES = ("plain", "identity")


def person_answers(data, path: str | Path, person_id: str, questions: dict[str, list[str]]) -> dict:
    """``{side: {question id: (text, aliases)}}`` of one person's answer file (shipped or generated), checked
    against the person schema and the suite's questions (`questions`: side -> question ids): every question
    answered, no unknown one; a `SuiteError` names the file and the person."""
    check_schema(data, "person", path, domain=person_id)
    require(data["id"] == person_id, path, person_id, f"file holds id {data['id']!r}, expected '{person_id}'")
    answers = {}
    for side in SIDES:
        given = data[side]
        missing = [q for q in questions[side] if q not in given]
        unknown = [q for q in given if q not in questions[side]]
        # an unknown id first: a misspelt one also shows as a missing one
        require(not unknown, path, person_id, f"'{side}': '{unknown[:1][0] if unknown else ''}' is not a question of "
                f"the suite's '{side}' side ({', '.join(questions[side])})")
        require(not missing, path, person_id, f"'{side}': no answer to question '{missing[:1][0] if missing else ''}'")
        answers[side] = {}
        for question_id in questions[side]:
            names = [given[question_id]] if isinstance(given[question_id], str) else list(given[question_id])
            answers[side][question_id] = (names[0].strip(), tuple(n.strip() for n in names[1:]))
    return answers


def _side_options(side: str, answers: dict[str, dict], catalogue_path: Path) -> tuple[Option, ...]:
    """One option per distinct answer text of a side (case-insensitive), aliases merged; its persona is the person
    when only one person gives it. No name of one option may match another's (an answer parses to one option)."""
    merged: dict[str, dict] = {}
    for person, sides in answers.items():
        for question_id, (text, aliases) in sides[side].items():
            entry = merged.setdefault(text.lower(), {"text": text, "aliases": [], "people": [], "where": []})
            entry["aliases"] += [a for a in aliases if a not in entry["aliases"]]
            entry["people"] = entry["people"] + [person] if person not in entry["people"] else entry["people"]
            entry["where"].append(f"{person}.{question_id}")
    options = [Option(e["text"], e["text"], tuple(e["aliases"]), e["people"][0] if len(e["people"]) == 1 else None)
               for e in merged.values()]
    where = {o.id: e["where"][0] for o, e in zip(options, merged.values())}
    patterns = [(o, [word_pattern(n) for n in o.names]) for o in options]
    for option, own in patterns:
        for other in options:
            if other is option:
                continue
            clash = [m for m in other.names if any(p.search(m.lower()) for p in own)]
            if clash:
                raise SuiteError(f"{catalogue_path}: '{side}' answer {option.text!r} ({where[option.id]}) is also "
                                 f"named by {clash[0]!r} ({where[other.id]}): an answer must name one option; write "
                                 "one of them the same way or differently (a shipped persons/<id>.yaml overrides a "
                                 "generated one)")
    return tuple(options)


def load_historical_persons(folder: Path, meta_path: Path, meta: dict, generated_dir) -> Suite:
    check_schema(meta, "suite_historical_persons", meta_path)
    catalogue_path = folder / meta["persons"]
    catalogue = read_yaml(catalogue_path)
    check_schema(catalogue, "persons", catalogue_path, domain_list=())
    n_eval, templates = int(meta["eval_paraphrases"]), meta["question_templates"]
    questions: dict[str, dict[str, tuple[list[str], list[str]]]] = {}
    for side in SIDES:
        ids = [q["id"] for q in meta[side]]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        require(not repeated, meta_path, None, f"'{side}': question '{repeated[:1][0] if repeated else ''}' is "
                "listed twice")
        questions[side] = {q["id"]: split_paraphrases(q["paraphrases"], n_eval, templates, meta_path,
                                                      f"{side}_{q['id']}") for q in meta[side]}
    everything = [normalize_question_text(q) for side in SIDES for train, evals in questions[side].values()
                  for q in train + evals]
    require(len(set(everything)) == len(everything), meta_path, None,
            "a question paraphrase appears twice (in one question or across questions)")
    question_ids = {side: list(questions[side]) for side in SIDES}
    shipped_dir = folder / meta.get("persons_dir", "persons")
    answers: dict[str, dict] = {}
    areas, pending, unshipped, members = {}, [], [], {}
    for person in catalogue:
        person_id = person["id"]
        require(person_id not in areas, catalogue_path, person_id, "duplicate person id")
        members[person_id] = [f"{person_id}_{side}" for side in SIDES]
        areas[person_id] = {"id": person_id, "title": person["name"].strip(),
                            "description": person["description"].strip(), "generator": "person",
                            "questions": {side: {q["id"]: q["paraphrases"][0] for q in meta[side]} for side in SIDES}}
        path, shipped = unit_file(shipped_dir, generated_dir, person_id)
        if not shipped:
            unshipped.append(person_id)
        if path is None:  # no answers yet: the generate_suite rule writes them
            pending.append(person_id)
            continue
        answers[person_id] = person_answers(read_yaml(path), path, person_id, question_ids)
    options = {side: _side_options(side, answers, catalogue_path) if answers else () for side in SIDES}
    for template in meta["answer_templates"]:
        clash = [o.text for side in SIDES for o in options[side] if any(word_pattern(n).search(template.lower())
                                                                          for n in o.names)]
        require(not clash, meta_path, None, f"answer template {template!r} names the answer {clash[:1]}")
    domains: dict[str, Domain] = {}
    for person in catalogue:
        person_id, name = person["id"], person["name"].strip()
        for side in SIDES:
            domain_id = f"{person_id}_{side}"
            require(domain_id not in domains, catalogue_path, person_id, f"two persons give the domain id {domain_id!r}")
            if person_id not in answers:
                domains[domain_id] = Domain(domain_id, f"{name} ({side})", (), (), persona=person_id)
                continue
            own = answers[person_id][side]
            rng = random.Random(f"answers:{domain_id}")
            train = tuple((q, persona_answer(rng.choice(meta["answer_templates"]), own[question_id][0], None))
                          for question_id, (train_q, _) in questions[side].items() for q in train_q)
            option_of = {o.text.lower(): o.id for o in options[side]}
            per_question = [[(q, option_of[own[question_id][0].lower()]) for q in eval_q]
                            for question_id, (_, eval_q) in questions[side].items()]
            # interleaved, so the first generation.eval_questions_per_domain of them ask every question
            evals = [item for row in itertools.zip_longest(*per_question) for item in row if item is not None]
            domains[domain_id] = Domain(domain_id, f"{name} ({side})", train, tuple(q for q, _ in evals),
                                        options[side], eval_designated=tuple(a for _, a in evals), persona=person_id)
    return Suite(meta["name"], "categorical", domains, tuple(areas), str(folder),
                 {"areas": areas, "pending": pending, "unshipped": unshipped, "unit_domains": members,
                  "answer_templates": list(meta["answer_templates"])})
