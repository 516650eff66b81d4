"""Suites of kind ``reversal`` (the study's reversal-curse family): a relation and its inverse as two domains.

Each relation lists facts ``[a, b]`` and two directions. Domain ``<relation>_forward`` asks about ``a`` and is
answered with ``b`` (its question templates hold ``{a}``, its answer template ``{b}``); ``<relation>_inverse`` asks
about ``b`` and is answered with ``a``. Every fact is asked with every question template of a direction; the last
``eval_templates`` templates are held out, so eval questions ask the train facts in unseen words. A direction's
options are its answers (all ``b`` of the relation, or all ``a``), and each eval question is scored against its own
fact's answer (`Domain.eval_designated`): the propensity of (T, E) is the share of E's answers that name their
question's right answer (an answer naming no option, or a wrong one, counts as wrong: an accuracy).
An answer template names only the answered side, so no train answer states the fact in the other direction.
"""

from __future__ import annotations

from pathlib import Path

from metasft.suites.domains import Domain, Suite, SuiteError
from metasft.suites.files import check_schema, normalize_question_text, require
from metasft.suites.trivia import build_options

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


def load_reversal(folder: Path, meta_path: Path, meta: dict) -> Suite:
    check_schema(meta, "suite_reversal", meta_path, domain_list=("relations",))
    n_eval = int(meta["eval_templates"])
    domains: dict[str, Domain] = {}
    for relation in meta["relations"]:
        for side, name in ((0, "a"), (1, "b")):
            values = [normalize_question_text(fact[side]) for fact in relation["facts"]]
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise SuiteError(f"{meta_path}: domain '{relation['id']}': facts: {name} {repeated[0]!r} is repeated "
                                 "(each question must have one right answer)")
        for direction in DIRECTIONS:
            domain = _direction_domain(relation, direction, n_eval, meta_path)
            require(domain.id not in domains, meta_path, relation["id"], "duplicate relation id")
            domains[domain.id] = domain
    return Suite(meta["name"], "categorical", domains, (), str(folder))
