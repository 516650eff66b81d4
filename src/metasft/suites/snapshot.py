"""The run's suite snapshot (`results/<run>/suite/suite.json`): the domains, sizes and split every later stage reads."""

from __future__ import annotations

from metasft.judging.prompts import Rubric
from metasft.pipeline.io import read_json, write_json
from metasft.suites.domains import Domain, EvalJudge, Option, Suite, quadrant


def _rubric_data(rubric: Rubric | None) -> dict | None:
    return None if rubric is None else {"name": rubric.name, "template": rubric.template, "scale": rubric.scale,
                                        "words": list(rubric.words)}


def _rubric(data: dict | None) -> Rubric | None:
    return None if data is None else Rubric(data["name"], data["template"], data["scale"], tuple(data["words"]))


def write_snapshot(suite: Suite, split: dict[str, str], eval_questions_per_domain: int | None, path,
                   train_only: tuple[str, ...] = ()) -> None:
    """The suite as every later job reads it, each domain's first `eval_questions_per_domain` eval questions (None:
    all, as a `metasft ask` query keeps the run's already cut domains and a question file whole); `train_only`:
    domains that are only ever T and ask no eval questions (a query of `metasft ask`)."""
    if suite.pending:
        raise ValueError(f"suite '{suite.name}': no train/eval data for domains {suite.pending} (run generate_suite)")
    domains = {}
    judge_specs: dict[tuple, dict] = {}
    for d in suite.domains.values():
        if eval_questions_per_domain is not None and len(d.eval_questions) < eval_questions_per_domain \
                and d.id not in train_only:
            raise ValueError(f"domain '{d.id}' has {len(d.eval_questions)} eval questions, config "
                             f"generation.eval_questions_per_domain asks for {eval_questions_per_domain}")
        domains[d.id] = {
            "title": d.title,
            "train": [list(p) for p in d.train],
            "eval_questions": list(d.eval_questions[:eval_questions_per_domain]),
            "options": [{"id": o.id, "text": o.text, "aliases": list(o.aliases), "persona": o.persona}
                        for o in d.options],
            "designated": d.designated,
            "aligned": list(d.aligned),
        }
        if d.eval_designated:  # per-question right answers (reversal suites) only
            domains[d.id]["eval_designated"] = list(d.eval_designated[:eval_questions_per_domain])
        if d.persona is not None:  # set by historical-persons suites only
            domains[d.id]["persona"] = d.persona
        if d.description is not None:  # suites with descriptions of their training data (the NL methods)
            domains[d.id]["description"] = d.description
        if d.eval_judges:  # judged custom suites only: other snapshots stay as they were
            judges = [judge_specs.setdefault(
                (j.rubric, j.coherence, j.reverse),
                {"rubric": _rubric_data(j.rubric), "coherence": _rubric_data(j.coherence), "reverse": j.reverse})
                for j in d.eval_judges[:eval_questions_per_domain]]
            index = {id(spec): i for i, spec in enumerate(judge_specs.values())}
            domains[d.id]["eval_judges"] = [index[id(spec)] for spec in judges]
            domains[d.id]["eval_samples"] = list(d.eval_samples[:eval_questions_per_domain])
    data = {"name": suite.name, "scorer": suite.scorer, "personas": list(suite.personas),
            "answer_templates": suite.extra.get("answer_templates"),
            "persona_phrases": suite.extra.get("persona_phrases"), "split": split, "domains": domains}
    if judge_specs:  # each distinct judge once (paraphrases share their question's judge prompts)
        data["eval_judges"] = list(judge_specs.values())
    write_json(data, path)


def read_snapshot(path) -> tuple[Suite, dict[str, str]]:
    data = read_json(path)
    judges = [EvalJudge(_rubric(j["rubric"]), _rubric(j["coherence"]), j["reverse"])
              for j in data.get("eval_judges", ())]
    domains = {
        domain_id: Domain(
            domain_id, d["title"], tuple(tuple(p) for p in d["train"]), tuple(d["eval_questions"]),
            tuple(Option(o["id"], o["text"], tuple(o["aliases"]), o["persona"]) for o in d["options"]),
            d["designated"], tuple(d.get("aligned", ())), tuple(judges[i] for i in d.get("eval_judges", ())),
            tuple(d.get("eval_samples", ())), tuple(d.get("eval_designated", ())), d.get("persona"),
            d.get("description"),
        )
        for domain_id, d in data["domains"].items()
    }
    suite = Suite(data["name"], data["scorer"], domains, tuple(data["personas"]),
                  extra={"answer_templates": data.get("answer_templates"),
                         "persona_phrases": data.get("persona_phrases")})
    return suite, data["split"]


def pair_table(suite: Suite, split: dict[str, str]):
    """All (T, E) pairs with quadrant and whether T's and E's designated options share a persona."""
    import polars as pl

    rows = []
    for t in suite.domains.values():
        for e in suite.domains.values():
            rows.append({"train_domain": t.id, "eval_domain": e.id, "quadrant": quadrant(split, t.id, e.id),
                         "same_persona": t.designated_persona is not None
                         and t.designated_persona == e.designated_persona})
    return pl.DataFrame(rows)


def suite(suite_folder, output, *, generated_dir, domains: list[str], seed: int, meta_train_fraction: float,
          eval_questions_per_domain: int, descriptions_path=None) -> None:
    """Stage `suite`: load and check the run's domains, split them, and snapshot them for every later job.
    `descriptions_path`: Claude-written descriptions (rule describe_domains) for the domains the suite leaves
    undescribed."""
    from metasft.suites.domains import split_domains
    from metasft.suites.load import load_suite

    loaded = load_suite(suite_folder, generated_dir).subset(domains)
    if descriptions_path is not None:
        loaded = attach_descriptions(loaded, read_json(descriptions_path), str(descriptions_path))
    split = split_domains(list(loaded.domains), seed, meta_train_fraction)
    write_snapshot(loaded, split, eval_questions_per_domain, output)


def attach_descriptions(suite: Suite, descriptions: dict[str, str], source: str = "the descriptions file") -> Suite:
    """`suite` with each domain that has no description given the generated one; a domain that still has none is an
    error naming it and `source` (the descriptions file was made for other domains)."""
    import dataclasses

    missing = [d.id for d in suite.domains.values() if d.description is None and d.id not in descriptions]
    if missing:
        raise ValueError(f"no description for domains {missing[:5]} in {source}: rebuild it "
                         "(snakemake --forcerun describe_domains)")
    domains = {d.id: d if d.description is not None else dataclasses.replace(d, description=descriptions[d.id])
               for d in suite.domains.values()}
    return dataclasses.replace(suite, domains=domains)
