"""Ask the meta-model (`metasft ask`): what would a fine-tune on this data do to the model's answers? A finished run's
MetaSFT predicts it in minutes, UntrainedICL beside it for reference, each with the error the run measured.

The asked training data (a chat-JSONL file in the suites' format, or a domain of the run's suite) play T; the run's
eval domains (all, or those named) play E. As in the pipeline, MetaSFT and UntrainedICL answer ObjectICL prompts (k
train pairs of T, drawn seeded per (T, E, question), then E's question), sampled with the run's generation settings
and request seeds and scored by the run's scorer; the base model also answers E's questions alone (its own answers,
before any fine-tune). Per eval domain: each method's propensity with a 95% interval over its sampled answers
(a seeded bootstrap of answers), the RMSE the run measured for that kind of pair (a dataset the meta-model never saw
is on the eval side: eval_train or eval_eval by E's half; a domain of the suite keeps its own quadrant), and the shift
from the base model's own propensity, by which the table ranks where a fine-tune would leak. Training data given as a
description in plain words is answered as the NL methods answer: by MetaSFT-NL, UntrainedNL beside it.

The questions can also be the user's own: a question-YAML file in the suites' format (the Emergent Misalignment
repository's layout) is one more eval domain, named by the file, each paraphrase answered and judged by its own
judge prompt through the run's judge (its cache, as every judgment). The run's judge must be able to serve those
prompts: a run scored by parsing options has no judge, and the tiny judge knows only the prompts it learned.

Writes `results/<run>/ask/<name>/prediction.csv` (one row per eval domain) and `prediction.json` (the same, with the
query, a few sampled answers per domain and the settings used).

Long because a query's whole path reads best in one place: the run, the asked data and questions with their checks,
sampling, the table, --verify and the command line; each piece is a small function over the pipeline's own stages.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import polars as pl

from metasft.pipeline.config import ConfigError, load_config, settings_from
from metasft.pipeline.outputs import META_ADAPTER_FOLDERS, OutputError
from metasft.pipeline.replicates import training_seed
from metasft.pipeline.secrets import ApiKeyMissing
from metasft.pipeline.seeds import derived_seed
from metasft.suites.domains import Domain, Suite, SuiteError, quadrant

# The methods a query is answered by, by what it gives of the training data: (the meta-model, the untrained
# reference); each writes columns `meta*` and `untrained*`.
QUERY_METHODS = {"examples": ("MetaSFT", "UntrainedICL"), "description": ("MetaSFT-NL", "UntrainedNL")}
BASE = "base model"  # the base model's own answers to E's questions (no examples, no adapter)
SHOWN_ANSWERS = 3
BOOTSTRAP = 1000


class AskError(ValueError):
    """A query that cannot be answered; the message names the input at fault."""


@dataclasses.dataclass
class Run:
    folder: Path
    config: dict
    suite: Suite
    split: dict[str, str]
    metrics: pl.DataFrame

    @property
    def base_model(self) -> str:
        return str(self.folder / "base_model") if self.config["base_model"] == "tiny" else self.config["base_model"]


def load_run(run: str | Path | None = None, configfiles: list[str] | None = None) -> Run:
    """A finished run: its folder (`run`) holding run_info.json with the run's config, or the config files it ran
    with (`configfiles`, its folder results/<run>/); its suite snapshot and metrics must be there."""
    from metasft.pipeline.io import read_csv
    from metasft.suites.snapshot import read_snapshot

    if configfiles:
        config = load_config(configfiles)
        folder = Path(run) if run else Path("results") / config["run"]
    elif run:
        folder = Path(run)
        info = folder / "run_info.json"
        if not info.is_file():
            raise AskError(f"{folder}: no run_info.json: not a finished run (run snakemake with its config first), "
                           "or give the config files it ran with: --configfile ...")
        config = json.loads(info.read_text()).get("config")
        if config is None:
            raise AskError(f"{info} holds no config (written before run_info.json carried it): give the config files "
                           "the run was made with, --configfile ...")
    else:
        raise AskError("name the run: --run results/<run>, or --configfile with the files it ran with")
    for needed in ("suite/suite.json", "metrics/metrics.csv"):
        if not (folder / needed).is_file():
            raise AskError(f"{folder / needed} is missing: {folder} is not a finished run (snakemake --cores ... with "
                           "its config builds it)")
    suite, split = read_snapshot(folder / "suite" / "suite.json")
    return Run(folder, config, suite, split, read_csv(folder / "metrics" / "metrics.csv"))


def asked_domain(run: Run, train: str | Path | None = None, domain: str | None = None, name: str | None = None,
                 describe: str | None = None) -> Domain:
    """The training data asked about, as a domain of its own: the pairs of a chat-JSONL file, a suite domain, or a
    description in plain words (answered by the run's MetaSFT-NL)."""
    from metasft.suites.chat_jsonl import read_train_pairs

    if sum(given is not None for given in (train, domain, describe)) != 1:
        raise AskError("give the training data to ask about: --train FILE (chat JSONL), --domain ID or --describe TEXT")
    if domain is not None:
        if domain not in run.suite.domains:
            raise AskError(f"--domain {domain!r} is not a domain of the run's suite '{run.suite.name}' "
                           f"({run.folder}/suite/suite.json); its domains: {', '.join(run.suite.domains)}")
        return run.suite.domains[domain]
    domain_id = name or (Path(train).stem if train is not None else "described")
    if domain_id in run.suite.domains:
        raise AskError(f"--name {domain_id!r} is a domain of the run's suite: name the query otherwise (--name)")
    if describe is not None:
        if not describe.strip():
            raise AskError("--describe: the description is empty")
        return Domain(id=domain_id, title=domain_id, train=(), eval_questions=(), description=describe.strip())
    try:
        pairs = read_train_pairs(Path(train), domain_id)
    except SuiteError as error:
        raise AskError(str(error)) from None
    return Domain(id=domain_id, title=domain_id, train=tuple(pairs), eval_questions=())


def question_domains(run: Run, files: list[str | Path], judge: dict | None = None) -> list[Domain]:
    """The eval domains of question-YAML files (one per file, named by its stem; every paraphrase asked), judged as
    `judge` says (the keys of a suite's ``judge``: metric, coherence, scale, reverse)."""
    from metasft.suites.questions import JudgeChoice, read_questions

    choice = JudgeChoice.from_settings(judge)
    domains: list[Domain] = []
    for file in map(Path, files):
        domain_id = file.name.split(".")[0]
        if domain_id in run.suite.domains or any(d.id == domain_id for d in domains):
            raise AskError(f"--questions {file}: its domain '{domain_id}' (the file's name) is already "
                           f"{'a domain of the run' if domain_id in run.suite.domains else 'asked'}: rename the file")
        if not file.is_file():
            raise AskError(f"--questions {file}: no such file")
        try:
            questions = read_questions(file, domain_id, choice)
        except SuiteError as error:
            raise AskError(f"{error}".replace("judge.metric in suite.yaml", "--judge-metric")) from None
        domains.append(Domain(id=domain_id, title=domain_id, train=(), eval_questions=tuple(q.text for q in questions),
                              eval_judges=tuple(q.judge for q in questions),
                              eval_samples=tuple(q.samples for q in questions)))
    return domains


def check_rubrics(run: Run, domains: list[Domain], files: list[str | Path]) -> None:
    """That the run's judge can serve each question file's judge prompts: a run scored by parsing options has no
    judge, and the tiny base judges with the prompts it learned in pretraining only (config judge.hf.prompts)."""
    from metasft.judging.prompts import load_judge_prompts

    judge = run.config["judge"]
    for domain, file in zip(domains, files, strict=True):
        rubrics = {r for j in domain.eval_judges for r in (j.rubric, j.coherence) if r is not None}
        names = ", ".join(sorted({repr(r.name) for r in rubrics}))
        if judge["backend"] == "categorical":
            raise AskError(f"--questions {file}: its answers are judged by its judge prompts ({names}), and the run "
                           f"{run.folder} scores answers by parsing options (judge.backend categorical): it has no "
                           "judge to serve them; ask a run judged by Claude (judge.backend anthropic) or a judge "
                           "model (judge.hf.model)")
        if judge["backend"] == "hf" and judge["hf"]["model"] == "tiny":
            learned = set(load_judge_prompts(judge["hf"]["prompts"]).values())
            unknown = sorted(r.name for r in rubrics if r.template not in learned or r.scale != "0_100")
            if unknown:
                raise AskError(f"--questions {file}: the run's judge is its tiny base model, which judges only the "
                               f"0-100 prompts it learned in pretraining ({judge['hf']['prompts']}), and the file's "
                               f"prompts {', '.join(map(repr, unknown))} are not among them: ask a run judged by "
                               "Claude or a judge model, or use those prompts word for word")


def query_methods(train_domain: Domain) -> tuple[str, str]:
    """(meta-model, untrained reference) that answer a query: by examples, or by a description alone."""
    return QUERY_METHODS["description" if not train_domain.train else "examples"]


def check_query(run: Run, train_domain: Domain, eval_domains: list[str], questions: list[Domain] = ()) -> None:
    """Everything that can be checked before a model loads: the eval domains, enough examples for icl.k, a
    meta-model that reads descriptions where one is asked with, the model folders (manifests), the judge's key."""
    from metasft.models.manifest import check_model

    if not eval_domains and not questions:
        raise AskError("no questions to ask: name eval domains of the run (--eval-domains) or question files")
    unknown = [e for e in eval_domains if e not in run.suite.domains]
    if unknown:
        raise AskError(f"--eval-domains: not domains of the run's suite '{run.suite.name}': {', '.join(unknown)}")
    meta, _ = query_methods(train_domain)
    k = run.config["icl"]["k"]
    if train_domain.train and len(train_domain.train) < k:
        raise AskError(f"{train_domain.id}: {len(train_domain.train)} training examples, and the run's meta-model "
                       f"reads {k} in context (icl.k): give at least {k}")
    adapter = run.folder / META_ADAPTER_FOLDERS[meta]
    if meta == "MetaSFT-NL" and not adapter.exists():
        raise AskError(f"--describe is answered by MetaSFT-NL, the meta-model trained on descriptions too, and "
                       f"{run.folder} has none ({adapter} is missing: its suite has no descriptions, or nl.enabled "
                       "was off): ask with examples instead (--train)")
    if run.config["judge"]["backend"] == "anthropic":
        from metasft.pipeline.secrets import require_api_key

        require_api_key("metasft ask, whose answers the run's judge scores (judge.backend: anthropic),")
    try:
        check_model(adapter)
        check_model(run.base_model, required=False)
    except OutputError as error:
        raise AskError(f"the run's models: {error}") from None


def query_suite(run: Run, train_domain: Domain, eval_domains: list[str], questions: list[Domain] = ()
                ) -> tuple[Suite, dict[str, str]]:
    """The run's suite cut to the eval domains (in the run's order, so each request is the run's own), then the
    question files' domains, with the asked domain as a train domain; new ones sit on the eval side of the split,
    as data the meta-model never saw."""
    domains = {e: d for e, d in run.suite.domains.items() if e in eval_domains}
    domains.update((d.id, d) for d in questions)
    if train_domain.id not in domains:  # train side only: its eval questions, if any, are not asked
        domains[train_domain.id] = dataclasses.replace(train_domain, eval_questions=(), eval_samples=(),
                                                       eval_judges=(), eval_designated=())
    split = {**run.split, **{d.id: "meta_eval" for d in questions},
             train_domain.id: run.split.get(train_domain.id, "meta_eval")}
    return dataclasses.replace(run.suite, domains=domains), split


def base_answers(engine, suite: Suite, split: dict[str, str], train_domain: str, sampling, seed: int) -> pl.DataFrame:
    """The base model's own answers to each eval question (no examples, no adapter), in the answer table's layout."""
    from metasft.generation.answers import ANSWER_SCHEMA
    from metasft.generation.requests import GenerationRequest
    from metasft.suites.turns import single_turn

    keys, requests = [], []
    for e in suite.domains.values():
        for qi, question in enumerate(e.eval_questions):
            keys.append((e.id, qi, question))
            requests.append(GenerationRequest(single_turn(question), None, derived_seed(seed, BASE, e.id, qi),
                                              e.samples(qi, sampling.samples_per_question)))
    rows = [{"train_domain": train_domain, "eval_domain": e, "quadrant": quadrant(split, train_domain, e),
             "question_index": qi, "question": q, "sample_index": si, **sample}
            for (e, qi, q), samples in zip(keys, engine.generate(requests)) for si, sample in enumerate(samples)]
    return pl.DataFrame(rows, schema=ANSWER_SCHEMA)


def sample_query(run: Run, suite: Suite, split: dict[str, str], train_domain: Domain, threads: int) -> dict:
    """{source: answer table} for the meta-model, its untrained reference and the base model's own answers: one model
    load with the meta-model merged (as the pipeline samples it), one of the base model for the other two."""
    from metasft.generation.answers import sample_source
    from metasft.generation.engines import load_engine
    from metasft.generation.requests import SamplingSettings
    from metasft.models.loading import configure_torch

    configure_torch(threads)
    config = run.config
    sampling = settings_from(SamplingSettings, config["generation"], "generation")
    seed, k = training_seed(config), config["icl"]["k"]
    meta, untrained = query_methods(train_domain)
    tables = {}
    adapters = {meta: str(run.folder / META_ADAPTER_FOLDERS[meta])}
    engine = load_engine(run.base_model, adapters, sampling, merge=True, chat=config["chat"])
    tables[meta] = sample_source(engine, suite, split, meta, [train_domain.id], sampling, k, seed)
    del engine
    engine = load_engine(run.base_model, {}, sampling, chat=config["chat"])
    tables[untrained] = sample_source(engine, suite, split, untrained, [train_domain.id], sampling, k, seed)
    tables[BASE] = base_answers(engine, suite, split, train_domain.id, sampling, seed)
    return tables


def answer_interval(scores: np.ndarray, seed: int, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean score over a bootstrap of the answers (nan without answers)."""
    if scores.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = scores[rng.integers(0, scores.size, size=(BOOTSTRAP, scores.size))].mean(axis=1)
    return tuple(float(v) for v in np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2]))


def prediction_table(run: Run, scores: dict[str, pl.DataFrame], methods: tuple[str, str], name: str,
                     seed: int) -> pl.DataFrame:
    """One row per eval domain: the meta-model's (`meta`) and the untrained reference's (`untrained`) propensity
    with its answer interval and the run's RMSE for that quadrant, the base model's own propensity, the shift, and
    the leak rank (1: the largest predicted rise)."""
    from metasft.analysis.propensities import counted_score

    columns = {methods[0]: "meta", methods[1]: "untrained", BASE: "base"}
    rows: dict[str, dict] = {}
    for source, table in scores.items():
        column = columns[source]
        counted = table.with_columns(counted=counted_score())
        for (eval_domain, q), part in counted.group_by("eval_domain", "quadrant", maintain_order=True):
            row = rows.setdefault(eval_domain, {"eval_domain": eval_domain, "quadrant": q})
            values = part["counted"].drop_nulls().to_numpy()
            row[column] = float(values.mean()) if values.size else math.nan
            if source in methods:
                low, high = answer_interval(values, derived_seed(seed, "ask", name, source, eval_domain))
                row[f"{column}_lo"], row[f"{column}_hi"] = low, high
                measured = run.metrics.filter((pl.col("method") == source) & (pl.col("quadrant") == q))
                row[f"{column}_run_rmse"] = measured["rmse"][0] if measured.height else math.nan
            row[f"{column}_answers"] = part.height
    table = pl.DataFrame(list(rows.values())).with_columns(shift=pl.col("meta") - pl.col("base"))
    return table.sort("shift", descending=True, nulls_last=True).with_row_index("leak_rank", offset=1)


def ask(run: Run, train_domain: Domain, eval_domains: list[str] | None = None, *, name: str | None = None,
        threads: int = 1, output_dir: str | Path | None = None, questions: list[str | Path] = (),
        judge: dict | None = None) -> pl.DataFrame:
    """Predict the asked training data's effect on every eval domain (module docstring): the run's (`eval_domains`;
    default all of them, none when question files are given) and the question-YAML files' (`questions`, judged as
    `judge` says: metric, coherence, scale, reverse); write and return the table."""
    from metasft.judging.score import score_table
    from metasft.pipeline.io import write_csv, write_json

    name = name or train_domain.id
    asked = question_domains(run, list(questions), judge)
    check_rubrics(run, asked, list(questions))
    eval_domains = list(run.suite.domains) if eval_domains is None and not asked else list(eval_domains or [])
    check_query(run, train_domain, eval_domains, asked)
    methods = query_methods(train_domain)
    suite, split = query_suite(run, train_domain, eval_domains, asked)
    answers = sample_query(run, suite, split, train_domain, threads)
    scores = {source: score_table(table, suite, settings=run.config["judge"], base_model=run.base_model,
                                  chat=run.config["chat"], threads=threads, run=run.config["run"])
              for source, table in answers.items()}
    seed = training_seed(run.config)
    table = prediction_table(run, scores, methods, name, seed)
    folder = Path(output_dir) if output_dir else run.folder / "ask" / name
    write_csv(table, folder / "prediction.csv")
    if train_domain.id not in run.suite.domains and train_domain.train:  # what --verify fine-tunes on
        from metasft.suites.snapshot import write_snapshot

        write_snapshot(suite, split, None, folder / "suite.json", train_only=(train_domain.id,))
    shown = {source: {e: part["answer"].head(SHOWN_ANSWERS).to_list()
                      for (e,), part in answers[source].group_by("eval_domain", maintain_order=True)}
             for source in (*methods, BASE)}
    write_json({"query": {"name": name, "train_domain": train_domain.id, "train_examples": len(train_domain.train),
                          "description": train_domain.description if not train_domain.train else None,
                          "methods": {"meta": methods[0], "untrained": methods[1]}, "run": str(run.folder),
                          "icl_k": run.config["icl"]["k"], "seed": seed,
                          "question_files": {d.id: str(f) for d, f in zip(asked, questions, strict=True)}},
                "predictions": table.to_dicts(), "answers": shown}, folder / "prediction.json")
    return table


def golden_scores(run: Run, train_domain: Domain, folder: Path, cores: int, snakemake_args: list[str]) -> pl.DataFrame:
    """The golden answers' scores of the asked data: a suite domain's from the run itself; a file's from its real
    fine-tune, which the workflow makes (rules ask_finetune, ask_golden, ask_score, with the run's config and any
    further snakemake options, e.g. --profile profiles/slurm), here in the workflow's folder."""
    import subprocess

    import yaml

    from metasft.pipeline.io import read_parquet, read_parquets

    if train_domain.id in run.suite.domains:
        chunks = sorted((run.folder / "scores" / "golden" / "chunks").glob("*.parquet"))
        return read_parquets(chunks).filter(pl.col("train_domain") == train_domain.id)
    if not train_domain.train:
        raise AskError("--verify needs training data to fine-tune on: a description has none (ask with --train)")
    expected = Path("results") / run.config["run"]
    if not Path("Snakefile").is_file() or expected.resolve() != run.folder.resolve():
        raise AskError(f"--verify runs the workflow on {run.folder}: run metasft ask from the workflow's folder, the "
                       f"one holding its Snakefile and {expected}")
    config_file = folder / "config.yaml"  # the run's own config: the fine-tune and sampling settings it used
    config_file.write_text(yaml.safe_dump(run.config, sort_keys=False))
    target = folder / "golden_scores.parquet"
    command = [sys.executable, "-m", "snakemake", str(target), "--cores", str(cores), *snakemake_args,
               "--configfile", str(config_file)]
    if subprocess.run(command).returncode != 0:
        raise AskError(f"the fine-tune for --verify failed: see its logs under logs/{run.config['run']}/ask/"
                       f"{train_domain.id}/ (command: {' '.join(command[2:])})")
    return read_parquet(target)


def verify(run: Run, table: pl.DataFrame, scores: pl.DataFrame, name: str, folder: Path) -> pl.DataFrame:
    """The prediction with the golden propensity of each eval domain (its answer interval) and each method's error
    against it, written back to prediction.csv and prediction.json."""
    from metasft.analysis.propensities import counted_score
    from metasft.pipeline.io import write_csv, write_json

    seed = training_seed(run.config)
    golden = []
    for (eval_domain,), part in scores.with_columns(counted=counted_score()).group_by("eval_domain"):
        values = part["counted"].drop_nulls().to_numpy()
        low, high = answer_interval(values, derived_seed(seed, "ask", name, "golden", eval_domain))
        golden.append({"eval_domain": eval_domain, "golden": float(values.mean()) if values.size else math.nan,
                       "golden_lo": low, "golden_hi": high, "golden_answers": part.height})
    verified = table.drop([c for c in table.columns if c.startswith("golden") or c.endswith("_error")]).join(
        pl.DataFrame(golden), on="eval_domain", how="left").with_columns(
        meta_error=pl.col("meta") - pl.col("golden"), untrained_error=pl.col("untrained") - pl.col("golden"))
    write_csv(verified, folder / "prediction.csv")
    record = json.loads((folder / "prediction.json").read_text())
    record["predictions"] = verified.to_dicts()
    record["verified"] = {f"{column}_rmse": float(np.sqrt(np.nanmean(verified[f"{column}_error"].to_numpy() ** 2)))
                          for column in ("meta", "untrained")}
    write_json(record, folder / "prediction.json")
    return verified


def render(table: pl.DataFrame, methods: tuple[str, str]) -> str:
    """The terminal table: one line per eval domain, in leak order (with the golden column once verified)."""
    def cell(row, column):
        low, high, rmse = row[f"{column}_lo"], row[f"{column}_hi"], row[f"{column}_run_rmse"]
        return f"{row[column]:5.1f} [{low:5.1f}, {high:5.1f}] +-{rmse:4.1f}"

    verified = "golden" in table.columns
    width = max(len("eval domain"), *(len(e) for e in table["eval_domain"]))
    heads = [f"{method} [95%] +-run RMSE" for method in methods]
    lines = [f"{'rank':>4}  {'eval domain':<{width}}  {'quadrant':<11}  {heads[0]:<31}  {heads[1]:<31}  "
             f"{'base':>5}  {'shift':>6}" + ("  golden [95%]" if verified else "")]
    for row in table.iter_rows(named=True):
        golden = f"  {row['golden']:5.1f} [{row['golden_lo']:5.1f}, {row['golden_hi']:5.1f}]" if verified else ""
        lines.append(f"{row['leak_rank']:>4}  {row['eval_domain']:<{width}}  {row['quadrant']:<11}  "
                     f"{cell(row, 'meta'):<31}  {cell(row, 'untrained'):<31}  {row['base']:5.1f}  "
                     f"{row['shift']:+6.1f}{golden}")
    lines += ["", "[95%]: over the sampled answers; run RMSE: the run's own error for such pairs; shift: the "
                  "meta-model's propensity minus the base model's own"]
    if verified:
        rmse = {c: float(np.sqrt(np.nanmean(table[f"{c}_error"].to_numpy() ** 2))) for c in ("meta", "untrained")}
        lines.append(f"against the real fine-tune (golden): RMSE {methods[0]} {rmse['meta']:.1f}, "
                     f"{methods[1]} {rmse['untrained']:.1f} over {table.height} eval domains")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="With --verify, options this command does not know go to snakemake "
                                            "(e.g. --profile profiles/slurm).")
    parser.add_argument("--run", help="the finished run's folder, results/<run> (its run_info.json has its config)")
    parser.add_argument("--configfile", nargs="*", default=[], help="or the config files the run was made with")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--train", help="the training data to ask about: a chat-JSONL file, one "
                                      '{"messages": [user, assistant]} conversation per line')
    data.add_argument("--domain", help="or a domain of the run's suite (the run's own prediction, asked again)")
    data.add_argument("--describe", help="or the training data described in plain words (answered by the run's "
                                         "MetaSFT-NL, where it has one)")
    parser.add_argument("--eval-domains", nargs="*", help="the run's eval domains to predict (default: all of them, "
                                                          "none when --questions is given)")
    parser.add_argument("--questions", nargs="*", default=[],
                        help="question-YAML files in the suites' format, each one more eval domain (named by the "
                             "file), judged by its own judge prompts through the run's judge")
    parser.add_argument("--judge-metric", help="the question files' judge prompt whose verdict is the propensity "
                                               "(as a suite's judge.metric; needed when they have several)")
    parser.add_argument("--judge-coherence", help="their judge prompt of the coherence gate (judge.coherence)")
    parser.add_argument("--judge-scale", choices=["0_100", "binary"],
                        help="the verdict's scale of entries without a type (judge.scale; default 0_100)")
    parser.add_argument("--judge-reverse", action="store_true",
                        help="the propensity is 100 minus the verdict (judge.reverse)")
    parser.add_argument("--name", help="the query's name (default: the file's stem or the domain): "
                                       "results/<run>/ask/<name>/")
    parser.add_argument("--verify", action="store_true",
                        help="then fine-tune on the data for real (the workflow's rules) and add the golden "
                             "propensities and each method's error")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (and --verify's snakemake --cores)")
    args, snakemake_args = parser.parse_known_args(argv)
    if snakemake_args and not args.verify:
        parser.error(f"unrecognized arguments: {' '.join(snakemake_args)}")
    if not args.questions and (args.judge_metric or args.judge_coherence or args.judge_scale or args.judge_reverse):
        parser.error("--judge-metric, --judge-coherence, --judge-scale and --judge-reverse say how question files are "
                     "judged: give the files with --questions")
    try:
        run = load_run(args.run, args.configfile)
        domain = asked_domain(run, args.train, args.domain, args.name, args.describe)
        name = args.name or domain.id
        if args.verify and not domain.train:
            raise AskError("--verify needs training data to fine-tune on: a description has none (ask with --train)")
        if args.verify and args.domain and args.questions:
            raise AskError("--verify of a suite domain reads the run's own golden answers, which never answered the "
                           "question files: give the domain's training data as a file (--train) to verify them")
        judge = {key: value for key, value in (("metric", args.judge_metric), ("coherence", args.judge_coherence),
                                               ("scale", args.judge_scale), ("reverse", args.judge_reverse or None))
                 if value is not None}
        table = ask(run, domain, args.eval_domains, name=name, threads=args.threads, questions=args.questions,
                    judge=judge)
        folder = run.folder / "ask" / name
        if args.verify:
            scores = golden_scores(run, domain, folder, args.threads, snakemake_args)
            asked = scores.filter(pl.col("eval_domain").is_in(table["eval_domain"].to_list()))
            table = verify(run, table, asked, name, folder)
    except (AskError, ApiKeyMissing, ConfigError, OutputError) as error:
        print(f"metasft ask: {error}", file=sys.stderr)
        return 2
    print(render(table, query_methods(domain)))
    print(f"\n{folder}/prediction.csv, prediction.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
