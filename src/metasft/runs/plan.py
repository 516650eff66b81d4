"""Cost planning: what a config will submit and spend, before submitting it.

    python -m metasft.runs.plan --configfile config/presets/paper/trivia_qwen3_4b.yaml [--gpu-hour-cost 2.5]

Reads the embedded default config and the given presets exactly as the workflow does (later files override
earlier ones key by key, schema defaults filled), counts jobs per rule, estimates GPU-hours per stage from the
per-unit costs in `cluster.minutes_per_unit` (see metasft.pipeline.resources), and counts scoring API requests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from metasft.pipeline.config import (
    ROOT,
    descriptions_to_write,
    inverse_eval_domains,
    inverse_methods,
    load_config,
    nl_enabled,
)
from metasft.pipeline.replicates import REUSED_RULES
from metasft.pipeline.resources import (
    GPU_RULES,
    chunk_domains,
    gpu_minutes,
    inverse_chunks,
    inverse_scorings_per_eval_domain,
    model_params_billions,
)
from metasft.selection.policies import POLICIES
from metasft.sources import BY_NAME, sampled_sources
from metasft.suites.domains import split_domains
from metasft.suites.load import load_suite


def plan(config: dict, suite=None) -> list[dict]:
    """Jobs, GPU-hours, answers (and API requests) per rule of `config`'s run; `suite`: the run's loaded suite
    (the workflow's, with its generated areas), else loaded here."""
    if suite is None:
        suite = load_suite(ROOT / config["suite"]["path"] if not Path(config["suite"]["path"]).is_absolute()
                           else config["suite"]["path"]).subset(config["suite"]["domains"])
    domains = list(suite.domains)
    n = len(domains)
    split = split_domains(domains, config["seed"], config["split"]["meta_train_fraction"])
    n_meta_train = sum(v == "meta_train" for v in split.values())
    train_train = n_meta_train ** 2
    finetune_chunks = chunk_domains(domains, config["finetune"]["domains_per_job"])
    sampling_chunks = chunk_domains(domains, config["generation"]["domains_per_job"])
    base_chunks = sampling_chunks  # the base-model sources answer for every train domain
    live = config["selection"]["enabled"]
    if live:  # only the picked meta-train domains are fine-tuned, their rows sampled (metasft.selection.live)
        from metasft.selection.schedule import check_selection

        counts = check_selection(config["selection"], n_meta_train)
        finetune_chunks = live_chunks(n - n_meta_train, counts, config["finetune"]["domains_per_job"])
        sampling_chunks = live_chunks(n - n_meta_train, counts, config["generation"]["domains_per_job"])
        train_train = counts[-1] * n_meta_train
    answers_per_pair = suite.answers_per_pair(config["generation"]["eval_questions_per_domain"],
                                              config["generation"]["samples_per_question"])
    rows = []

    def add(rule, jobs, answers=0, chunks=None):
        minutes = 0.0
        if rule in GPU_RULES:
            sizes = [len(c) for c in chunks.values()] if chunks else [1] * jobs
            minutes = sum(gpu_minutes(config, rule, n, size, answers_per_pair=answers_per_pair) for size in sizes)
        rows.append({"rule": rule, "jobs": jobs, "gpu_hours": minutes / 60, "answers": round(answers)})

    if suite.pending:
        add("generate_suite", len(suite.pending))
        rows[-1]["requests"] = suite.generation_requests
    described = descriptions_to_write(suite, config)
    if described:
        add("describe_domains", 1)
        rows[-1]["requests"] = len(described)  # one per domain; a refused reply is asked again
    add("suite", 1)
    if config["base_model"] == "tiny":
        add("pretrain_base", 1)
    add("finetune", len(finetune_chunks), chunks=finetune_chunks)
    nl = nl_enabled(suite, config)
    scored_jobs = scored_answers = 0
    for source in sampled_sources(nl):
        chunks = base_chunks if BY_NAME[source].adapter is None else sampling_chunks
        answers = sum(len(c) for c in chunks.values()) * n * answers_per_pair
        add(BY_NAME[source].rule, len(chunks), answers, chunks)
        scored_jobs, scored_answers = scored_jobs + len(chunks), scored_answers + answers
    if live:
        add_live_rounds(rows, config, n, n_meta_train, answers_per_pair, counts)
    for suffix in ("", "_nl") if nl else ("",):
        add(f"meta_shards{suffix}", 1, train_train * answers_per_pair)
        add(f"meta_train{suffix}", 1)
    add("score", scored_jobs, scored_answers)
    # Judgments per scored answer: the EM metrics (evilness, coherence), or a judged custom suite's rubric and, where
    # its questions have one, the coherence gate. The judge cache removes repeats, so requests are at most this.
    asked = config["generation"]["eval_questions_per_domain"]
    judges = [j for d in suite.domains.values() for j in d.eval_judges[:asked]]
    per_answer = sum(1 + (j.coherence is not None) for j in judges) / len(judges) if judges else 2
    rows[-1]["judgments"] = round(per_answer * rows[-1]["answers"])
    for rule in ("baselines", "metrics", "plots", *(("nl_plots",) if nl else ())):
        add(rule, 1)
    methods = inverse_methods(config, nl)
    if methods:
        scorings = inverse_scorings_per_eval_domain(config, n, answers_per_pair, len(methods))
        chunks = inverse_chunks(inverse_eval_domains(config, split), sampling_chunks)
        ranked = sum(len(members) for members in chunks.values())
        add("inverse_likelihoods", len(chunks), ranked * scorings, chunks)
        add("inverse", 1)
    simulation = config["selection"]["simulation"]
    if simulation["enabled"]:  # replayed selection curves (metasft.selection.cost): one job per policy and seed
        from metasft.selection.cost import curve_gpu_hours, replay_answers, start_gpu_hours

        n_meta_train = sum(v == "meta_train" for v in split.values())
        seeds, policies = simulation["seeds"], simulation["policies"]
        answers = {p: replay_answers(config, n, n_meta_train, answers_per_pair, p) for p in policies}
        # every answer is scored like the run's own: a judged suite's answers are judgments too (the cache removes repeats)
        rows.append({"rule": "simulate_selection_start", "jobs": seeds,
                     "gpu_hours": seeds * start_gpu_hours(config, n, n_meta_train, answers_per_pair),
                     "answers": round(seeds * answers[policies[0]][0])})
        rows.append({"rule": "simulate_selection", "jobs": len(policies) * seeds,
                     "gpu_hours": seeds * sum(curve_gpu_hours(config, n, n_meta_train, answers_per_pair, p)
                                              for p in policies),
                     "answers": round(seeds * sum(a[1] for a in answers.values()))})
        for row in rows[-2:]:
            row["judgments"] = round(per_answer * row["answers"])
        add("learning_curve", 1)
    return with_replicates(rows, config)


def selection_table(config: dict, policy: str, suite=None) -> list[str]:
    """Lines pricing a live selection loop of `config`'s selection schedule with `policy`, round by round, against
    the full run's meta-train half (metasft.selection.cost)."""
    from metasft.selection.cost import full_meta_train_side, live_rounds

    if suite is None:
        suite = load_suite(ROOT / config["suite"]["path"] if not Path(config["suite"]["path"]).is_absolute()
                           else config["suite"]["path"]).subset(config["suite"]["domains"])
    n = len(suite.domains)
    n_meta_train = sum(v == "meta_train" for v in split_domains(list(suite.domains), config["seed"],
                                                                   config["split"]["meta_train_fraction"]).values())
    answers_per_pair = suite.answers_per_pair(config["generation"]["eval_questions_per_domain"],
                                              config["generation"]["samples_per_question"])
    rounds = live_rounds(config, n, n_meta_train, answers_per_pair, policy)
    selection = config["selection"]
    lines = [f"selection, policy {policy} ({'warm' if selection['warm_start'] else 'cold'} meta-training): "
             f"{selection['initial']} meta-train domains, then {selection['per_round']} a round, up to "
             f"{rounds[-1]['fine_tunes']} of {n_meta_train}",
             f"{'round':>6}{'fine-tunes':>12}{'fine-tunes+golden':>19}{'meta_train':>12}{'probes':>9}"
             f"{'GPU-hours':>11}"]
    for r in rounds:
        total = r["finetune_gpu_hours"] + r["meta_train_gpu_hours"] + r["probe_gpu_hours"]
        lines.append(f"{r['round']:>6}{r['added']:>6} ({r['fine_tunes']:>3}){r['finetune_gpu_hours']:>19.1f}"
                     f"{r['meta_train_gpu_hours']:>12.1f}{r['probe_gpu_hours']:>9.1f}{total:>11.1f}")
    loop = sum(r["finetune_gpu_hours"] + r["meta_train_gpu_hours"] + r["probe_gpu_hours"] for r in rounds)
    full = full_meta_train_side(config, n, n_meta_train, answers_per_pair)
    lines.append(f"{'total':>6}{'':>12}{'':>19}{'':>12}{'':>9}{loop:>11.1f}  against {full:.1f} GPU-hours for all "
                 f"{n_meta_train} meta-train fine-tunes, their golden rows and one meta-training")
    return lines


def live_chunks(n_meta_eval: int, counts: list[int], per_job: int) -> dict[str, list[str]]:
    """Chunks of a live selection's fine-tuned rows, as the workflow cuts them (rules/common.smk): the meta-eval half
    with the initial set, then each later round's picks on their own (domains stand in by number)."""
    chunks = {f"part{k}": list(range(k, min(k + per_job, n_meta_eval + counts[0])))
              for k in range(0, n_meta_eval + counts[0], per_job)}
    for r in range(1, len(counts)):
        added = counts[r] - counts[r - 1]
        chunks.update({f"round{r}part{k}": list(range(k, min(k + per_job, added))) for k in range(0, added, per_job)})
    return chunks


def add_live_rounds(rows: list[dict], config: dict, n: int, n_meta_train: int, answers_per_pair: float,
                    counts: list[int]) -> None:
    """The rounds of a live selection (rules/live_selection.smk): a meta-model and a pick for every round but the
    last (metasft.selection.cost)."""
    from metasft.selection.cost import live_rounds

    rounds = live_rounds(config, n, n_meta_train, answers_per_pair, config["selection"]["policy"])[:-1]
    rows.append({"rule": "selection_round_shards", "jobs": len(rounds), "gpu_hours": 0.0,
                 "answers": round(sum(c * n_meta_train * answers_per_pair for c in counts[:-1]))})
    rows.append({"rule": "selection_round_meta_train", "jobs": len(rounds), "answers": 0,
                 "gpu_hours": sum(r["meta_train_gpu_hours"] for r in rounds)})
    rows.append({"rule": "selection_round", "jobs": len(rounds), "gpu_hours": sum(r["probe_gpu_hours"] for r in rounds),
                 "answers": round(sum(r["probe_answers"] for r in rounds))})
    rows.append({"rule": "selection_rounds", "jobs": 1, "gpu_hours": 0.0, "answers": 0})


def with_replicates(rows: list[dict], config: dict) -> list[dict]:
    """Replicates (config replicates, metasft.pipeline.replicates) run every rule again but the stages they reuse
    (replicate_stages: after_finetune); their API requests for the suite repeat replicate 0's and hit its cache."""
    n = int(config.get("replicates", 1))
    if n == 1:
        return rows
    reused = REUSED_RULES if config.get("replicate_stages", "all") == "after_finetune" else ()
    for row in rows:
        if row["rule"] in reused:
            continue
        for key in ("jobs", "gpu_hours", "answers", "judgments"):
            if key in row:
                row[key] *= n
    rows.append({"rule": "combine_replicates", "jobs": 1, "gpu_hours": 0.0, "answers": 0})
    return rows


def amount(value: float, decimals: int = 0) -> str:
    """A count or estimate for a table column: thousands separated, in powers of ten past a billion (a typo's
    plan stays readable)."""
    return f"{value:.3g}" if abs(value) >= 1e9 else f"{value:,.{decimals}f}"


def judge_requests(rows: list[dict], config: dict) -> int:
    """Judge requests to the Anthropic API the plan makes (0 for a local judge or a categorical suite)."""
    judgments = sum(r.get("judgments", 0) for r in rows)  # the score rule's and the selection replay's
    return judgments if config["judge"]["backend"] == "anthropic" else 0


# budget: null is this default, above every shipped preset (paper_trivia: 315 GPU-hours; paper_em_qwen3_4b: 7.7M
# judge requests, 329 jobs). The tiny model's runs are local CPU runs, so GPU-hours and jobs have no default limit
# there; judge requests keep theirs, as a tiny run with the Anthropic judge pays for every request all the same.
DEFAULT_BUDGET = {"max_gpu_hours": 500.0, "max_judge_requests": 10_000_000, "max_jobs": 5_000}
LOCAL_UNLIMITED = {"max_gpu_hours", "max_jobs"}


def run_budget(config: dict) -> dict:
    """The limits that apply to `config`'s run: config budget, its nulls filled by the default above."""
    tiny = config["base_model"] == "tiny"
    return {key: value if value is not None else (None if tiny and key in LOCAL_UNLIMITED else DEFAULT_BUDGET[key])
            for key, value in config["budget"].items()}


def over_budget(rows: list[dict], config: dict) -> str | None:
    """Why the plan `rows` exceeds the run's budget, with its breakdown and the key to raise; None within it."""
    budget = run_budget(config)
    totals = {"max_gpu_hours": sum(r["gpu_hours"] for r in rows), "max_judge_requests": judge_requests(rows, config),
              "max_jobs": sum(r["jobs"] for r in rows)}
    units = {"max_gpu_hours": "GPU-hours", "max_judge_requests": "judge requests", "max_jobs": "jobs"}
    over = [key for key, limit in budget.items() if limit is not None and totals[key] > limit]
    if not over:
        return None
    lines = [f"the plan exceeds budget.{key}: {amount(totals[key], 1 if key == 'max_gpu_hours' else 0)} {units[key]} against "
             f"a limit of {budget[key]:,g}" for key in over]
    lines.append(f"  {'rule':<28}{'jobs':>8}{'GPU-hours':>14}{'answers':>16}{'judge requests':>16}")
    for row in sorted(rows, key=lambda r: -r["gpu_hours"]):
        judged = row.get("judgments", 0) if config["judge"]["backend"] == "anthropic" else 0
        lines.append(f"  {row['rule']:<28}{row['jobs']:>8}{amount(row['gpu_hours'], 1):>14}"
                     f"{amount(row['answers']):>16}{amount(judged):>16}")
    keys = ", ".join(f"budget.{key}" for key in over)
    lines.append(f"If this is what you mean to spend, raise {keys} in your config file (budget: {{{over[0]}: ...}}); "
                 "otherwise fix the size that drives it (the rules at the top). "
                 "`python -m metasft.runs.plan --configfile ...` prints the same plan.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", nargs="*", default=[], help="presets applied over config/config.yaml")
    parser.add_argument("--gpu-hour-cost", type=float, default=None, help="price of one GPU-hour, for a total")
    parser.add_argument("--selection-policy", default=None, choices=sorted(POLICIES),
                        help="price a live selection loop of the config's `selection` schedule with this policy, "
                             "round by round")
    args = parser.parse_args(argv)
    config = load_config(args.configfile)
    rows = plan(config)
    judged = judge_requests(rows, config)
    generated, generation_requests = next(((r["jobs"], r["requests"]) for r in rows if r["rule"] == "generate_suite"),
                                          (0, 0))
    print(f"base model {config['base_model']} ({model_params_billions(config):g}B parameters), "
          f"suite {config['suite']['path']}"
          + (f", {config['replicates']} replicates ({config['replicate_stages']})" if config["replicates"] > 1 else ""))
    print(f"{'rule':<28}{'jobs':>8}{'GPU-hours':>12}{'answers':>14}")
    for row in rows:
        print(f"{row['rule']:<28}{row['jobs']:>8}{amount(row['gpu_hours'], 1):>12}{amount(row['answers']):>14}")
    total_jobs = sum(r["jobs"] for r in rows)
    total_hours = sum(r["gpu_hours"] for r in rows)
    print(f"{'total':<28}{total_jobs:>8}{amount(total_hours, 1):>12}")
    print(f"API requests (judge): {judged}"
          + (" (Message Batches, half price)" if judged and config["judge"]["anthropic"]["use_batches"] else ""))
    described = next((r["requests"] for r in rows if r["rule"] == "describe_domains"), 0)
    if described:
        print(f"API requests (descriptions, nl.descriptions claude): {described}, one per domain without a description")
    if generated:
        print(f"API requests (suite generation): about {generation_requests} for {generated} areas, persons or "
              "relations without shipped data")
    if args.gpu_hour_cost is not None:
        print(f"estimated GPU cost: {total_hours * args.gpu_hour_cost:.0f} at {args.gpu_hour_cost:g} per GPU-hour")
    if args.selection_policy:
        print("\n".join(selection_table(config, args.selection_policy)))
    budget = run_budget(config)
    print("budget: " + ", ".join(f"{key} {'no limit' if value is None else amount(value)}" for key, value in
                                 budget.items()))
    problem = over_budget(rows, config)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
