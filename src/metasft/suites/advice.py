"""Suites of kind ``advice`` (evil advice): areas with shipped or API-generated data.

`load_advice` reads ``areas.yaml`` and takes each area's data from the suite's ``domains/<id>.yaml`` when shipped,
else from the files rule `generate_suite` writes (`metasft.suites.api_generation`); an area with neither is *pending*.
`check_area` checks one area file (schema, repeated questions, train/eval overlap), shipped or just generated.
"""

from __future__ import annotations

from pathlib import Path

from metasft.suites.domains import Domain, Suite
from metasft.suites.files import (
    check_schema,
    normalize_question_text,
    read_yaml,
    require,
    unit_file,
)


def load_advice(folder: Path, meta_path: Path, meta: dict, generated_dir) -> Suite:
    check_schema(meta, "suite_advice", meta_path)
    areas_path = folder / meta["areas"]
    areas = read_yaml(areas_path)
    check_schema(areas, "areas", areas_path, domain_list=())
    shipped_dir = folder / meta.get("domains_dir", "domains")
    domains: dict[str, Domain] = {}
    descriptions, units, pending, unshipped, origin = {}, {}, [], [], {}
    for raw in areas:
        area_id = raw["id"]
        require(area_id not in domains, areas_path, area_id, "duplicate id")
        descriptions[area_id] = raw["description"].strip()
        units[area_id] = {"id": area_id, "title": raw["title"].strip(), "description": descriptions[area_id]}
        path, shipped = unit_file(shipped_dir, generated_dir, area_id)
        if not shipped:
            unshipped.append(area_id)
        if path is None:  # no data yet: the generate_suite rule writes it
            pending.append(area_id)
            domains[area_id] = Domain(area_id, raw["title"].strip(), (), ())
            continue
        domains[area_id] = check_area(read_yaml(path), path, area_id, raw["title"].strip())
        origin[area_id] = str(path)
    return Suite(meta["name"], "judge", domains, (), str(folder),
                 {"descriptions": descriptions, "areas": units, "pending": pending, "unshipped": unshipped,
                  "origin": origin})


def check_area(data, path: str | Path, area_id: str, title: str | None = None) -> Domain:
    """The domain of one advice area's data (an area file, shipped or generated), checked against the area schema
    and for repeated or shared questions; a `SuiteError` names the file and the area."""
    check_schema(data, "area", path, domain=area_id)
    require(data["id"] == area_id, path, area_id, f"file holds id {data['id']!r}, expected '{area_id}'")
    train, aligned = [], []
    for row in data["train"]:
        train.append((row["question"].strip(), row["answer"].strip()))
        aligned.append(row.get("aligned_answer", "").strip())
    questions = data["eval_questions"]
    require(len({normalize_question_text(q) for q, _ in train}) == len(train), path, area_id, "a train question is repeated")
    overlap = {normalize_question_text(q) for q, _ in train} & {normalize_question_text(q) for q in questions}
    require(not overlap, path, area_id, f"eval questions also appear in train: {sorted(overlap)[:2]}")
    return Domain(area_id, title or data.get("title", area_id), tuple(train), tuple(q.strip() for q in questions),
                  aligned=tuple(aligned) if all(aligned) else ())
