"""Suites of kind ``reversal`` (the study's reversal-curse family): a relation and its inverse as two domains.

Each relation lists facts ``[a, b]`` and two directions. Domain ``<relation>_forward`` asks about ``a`` and is
answered with ``b`` (its question templates hold ``{a}``, its answer template ``{b}``); ``<relation>_inverse`` asks
about ``b`` and is answered with ``a``. Every fact is asked with every question template of a direction; the last
``eval_templates`` templates are held out, so eval questions ask the train facts in unseen words. A direction's
options are its answers (all ``b`` of the relation, or all ``a``), and each eval question is scored against its own
fact's answer (`Domain.eval_designated`): the propensity of (T, E) is the share of E's answers that name their
question's right answer (an answer naming no option, or a wrong one, counts as wrong: an accuracy).
An answer template names only the answered side, so no train answer states the fact in the other direction.

With ``catalogue`` (a file of relations by id, title and description), the relations suite.yaml does not ship are
written by Claude through rule ``generate_suite`` (`metasft.suites.api_generation.generate_relation`: templates and
made-up facts, ``generate.facts`` and ``generate.question_templates`` of them), checked as shipped ones are.
"""

from __future__ import annotations

from pathlib import Path

from metasft.suites.domains import Domain, Suite, SuiteError
from metasft.suites.files import check_schema, normalize_question_text, read_yaml, require
from metasft.suites.preferences import build_options

DIRECTIONS = {"forward": ("a", "b"), "inverse": ("b", "a")}  # direction -> (asked side, answered side)


def _direction_domain(relation: dict, direction: str, n_eval: int, meta_path: Path) -> Domain:
    asked, answered = DIRECTIONS[direction]
    spec, domain_id = relation[direction], f"{relation['id']}_{direction}"
    templates = spec["questions"]
    where = f"'{direction}'"
    for template in templates:
        require("{" + asked + "}" in template and "{" + answered + "}" not in template, meta_path, domain_id,
                f"{where}: question template {template!r} must name {{{asked}}} and not {{{answered}}}")
    require("{" + answered + "}" in spec["answer"] and "{" + asked + "}" not in spec["answer"], meta_path, domain_id,
            f"{where}: the answer template must name {{{answered}}} only, so no train answer states a whole fact")
    require(len(templates) > n_eval, meta_path, domain_id,
            f"{where}: needs more than {n_eval} question templates (eval holds out {n_eval}), has {len(templates)}")
    facts = [dict(zip("ab", fact)) for fact in relation["facts"]]
    train = tuple((t.format(**fact), spec["answer"].format(**fact)) for fact in facts for t in templates[:-n_eval])
    evals = [(t.format(**fact), fact[answered]) for fact in facts for t in templates[-n_eval:]]
    overlap = {normalize_question_text(q) for q, _ in train} & {normalize_question_text(q) for q, _ in evals}
    require(not overlap, meta_path, domain_id, f"train and eval questions overlap: {sorted(overlap)[:2]}")
    answers = [fact[answered] for fact in facts]
    options = build_options([{"id": a, "text": a} for a in answers], answers[0], meta_path, domain_id)
    return Domain(domain_id, f"{relation['id']} ({direction})", train, tuple(q for q, _ in evals), options,
                  eval_designated=tuple(a for _, a in evals))


def relation_domains(relation: dict, n_eval: int, path: Path) -> list[Domain]:
    """The forward and inverse domains of one relation (shipped in suite.yaml or generated), checked: every fact's
    sides distinct within the relation, templates naming the right side, no train/eval overlap."""
    for side, name in ((0, "a"), (1, "b")):
        values = [normalize_question_text(fact[side]) for fact in relation["facts"]]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise SuiteError(f"{path}: domain '{relation['id']}': facts: {name} {repeated[0]!r} is repeated "
                             "(each question must have one right answer)")
    return [_direction_domain(relation, direction, n_eval, path) for direction in DIRECTIONS]


def load_reversal(folder: Path, meta_path: Path, meta: dict, generated_dir=None) -> Suite:
    check_schema(meta, "suite_reversal", meta_path, domain_list=("relations",))
    n_eval = int(meta["eval_templates"])
    domains: dict[str, Domain] = {}
    relations = [(relation, meta_path) for relation in meta["relations"]]
    extra: dict = {}
    if "catalogue" in meta:  # relations without shipped facts: generated (rule generate_suite)
        extra = _catalogue(folder, meta_path, meta, generated_dir, relations)
    for relation, path in relations:
        for domain in relation_domains(relation, n_eval, path):
            require(domain.id not in domains, path, relation["id"], "duplicate relation id")
            domains[domain.id] = domain
    for relation_id in extra.get("pending", ()):
        for direction in DIRECTIONS:
            domain_id = f"{relation_id}_{direction}"
            domains[domain_id] = Domain(domain_id, f"{relation_id} ({direction})", (), ())
    return Suite(meta["name"], "categorical", domains, (), str(folder), extra)


def _catalogue(folder: Path, meta_path: Path, meta: dict, generated_dir, relations: list) -> dict:
    """The units of the suite's catalogue (relations listed by id, title and description) that suite.yaml does not
    ship: their generated files join `relations`; those not generated yet are pending."""
    catalogue_path = folder / meta["catalogue"]
    catalogue = read_yaml(catalogue_path)
    check_schema(catalogue, "areas", catalogue_path, domain_list=())
    shipped = {relation["id"] for relation, _ in relations}
    spec = meta.get("generate") or {}
    areas, pending, unshipped, members = {}, [], [], {}
    for entry in catalogue:
        relation_id = entry["id"]
        require(relation_id not in areas, catalogue_path, relation_id, "duplicate relation id")
        areas[relation_id] = {"id": relation_id, "title": entry["title"].strip(),
                              "description": entry["description"].strip(), "generator": "relation",
                              "facts": int(spec.get("facts", 6)), "templates": int(spec.get("question_templates", 3)),
                              "eval_templates": int(meta["eval_templates"])}
        members[relation_id] = [f"{relation_id}_{d}" for d in DIRECTIONS]
        if relation_id in shipped:
            continue
        unshipped.append(relation_id)
        path = Path(generated_dir) / f"{relation_id}.yaml" if generated_dir is not None else None
        if path is None or not path.exists():
            pending.append(relation_id)
            continue
        relation = read_yaml(path)
        check_relation(relation, path, relation_id)
        relations.append((relation, path))
    return {"areas": areas, "pending": pending, "unshipped": unshipped, "unit_domains": members}


def check_relation(relation, path: str | Path, relation_id: str) -> None:
    """A relation file (generated) against the relation schema, holding the expected id."""
    check_schema(relation, "relation", path, domain=relation_id)
    require(relation["id"] == relation_id, path, relation_id,
            f"file holds id {relation['id']!r}, expected '{relation_id}'")
