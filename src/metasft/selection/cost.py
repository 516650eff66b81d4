"""What selection costs, in the planner's units (`metasft.pipeline.resources`): per round of a live loop against
fine-tuning every meta-train domain, and per replayed curve (rule simulate_selection).

A live round pays the fine-tunes of its new domains and their golden rows (every eval domain), a meta-training
(all of `meta_train.max_steps` cold; the round's share of them warm) and, before the next round, the policy's probes
(`metasft.selection.policies`: surprise and search the probe answers once, uncertainty once per draw, the others
none). The meta-eval half is fine-tuned as in a full run (its rows are the evaluation) and is not counted here.
A replayed curve pays no fine-tune or golden row; it pays each round's meta-training, MetaSFT's answers on the
evaluation pairs, and the probes.
"""

from __future__ import annotations

from metasft.pipeline.resources import gpu_minutes, model_params_billions, sampling_minutes
from metasft.selection.policies import POLICIES
from metasft.selection.schedule import SelectionSettings, schedule, train_steps


def _settings(config: dict) -> SelectionSettings:
    from metasft.pipeline.config import settings_from

    return settings_from(SelectionSettings, config["selection"], "selection")


def probe_answers(config: dict, policy: str, n_candidates: int, n_meta_train: int, questions_per_domain: float) -> float:
    """Answers the policy's probes sample in one round with `n_candidates` candidates left."""
    selection = config["selection"]
    needs = POLICIES[policy].needs
    if "surprise" not in needs and "uncertainty" not in needs:
        return 0.0
    draws = selection["uncertainty_draws"] if "uncertainty" in needs else 1
    probes = n_meta_train if selection["probe_eval_domains"] is None else min(selection["probe_eval_domains"],
                                                                                  n_meta_train)
    return n_candidates * probes * questions_per_domain * selection["probe_samples_per_question"] * draws


def live_rounds(config: dict, n_domains: int, n_meta_train: int, answers_per_pair: float, policy: str) -> list[dict]:
    """Per round of a live loop with `policy`: fine-tunes added and in all, and GPU-hours of its fine-tunes with
    their golden rows, its meta-training and the probes that pick the next round."""
    settings = _settings(config)
    counts = schedule(n_meta_train, settings)
    questions = answers_per_pair / config["generation"]["samples_per_question"]
    finetune = gpu_minutes(config, "finetune", n_domains, 1)
    golden = gpu_minutes(config, "golden", n_domains, 1, answers_per_pair=answers_per_pair)
    meta_train = gpu_minutes(config, "meta_train", n_domains) / config["meta_train"]["max_steps"]
    rows = []
    for r, count in enumerate(counts):
        added = count - (counts[r - 1] if r else 0)
        steps = train_steps(counts, r, config["meta_train"]["max_steps"], settings.warm_start, n_meta_train)
        probes = probe_answers(config, policy, n_meta_train - count, n_meta_train, questions) \
            if r + 1 < len(counts) else 0.0
        rows.append({"round": r, "added": added, "fine_tunes": count,
                     "finetune_gpu_hours": added * (finetune + golden) / 60,
                     "meta_train_gpu_hours": steps * meta_train / 60,
                     "probe_gpu_hours": sampling_minutes(config, "predict_metasft", probes) / 60,
                     "probe_answers": probes})
    return rows


def full_meta_train_side(config: dict, n_domains: int, n_meta_train: int, answers_per_pair: float) -> float:
    """GPU-hours a full run spends on the meta-train half's fine-tunes, their golden rows and one meta-training."""
    per_domain = gpu_minutes(config, "finetune", n_domains, 1) + gpu_minutes(config, "golden", n_domains, 1,
                                                                              answers_per_pair=answers_per_pair)
    return (n_meta_train * per_domain + gpu_minutes(config, "meta_train", n_domains)) / 60


def replay_rounds(config: dict, n_domains: int, n_meta_train: int, answers_per_pair: float, policy: str) -> list[dict]:
    """GPU-hours of each round of one replayed curve: its meta-training, MetaSFT's answers on the evaluation pairs and
    the probes that pick the next round (no fine-tune, no golden row)."""
    eval_domains = config["selection"]["simulation"]["eval_domains"]
    n_meta_eval = n_domains - n_meta_train
    halves = (n_meta_train, n_meta_eval) if eval_domains is None else (min(eval_domains, n_meta_train),
                                                                       min(eval_domains, n_meta_eval))
    eval_answers = (halves[0] * halves[1] * 2 + halves[1] ** 2) * answers_per_pair
    evaluation = sampling_minutes(config, "predict_metasft", eval_answers) / 60
    return [{"meta_train_gpu_hours": r["meta_train_gpu_hours"], "evaluate_gpu_hours": evaluation,
             "probe_gpu_hours": r["probe_gpu_hours"], "evaluate_answers": eval_answers,
             "probe_answers": r["probe_answers"]}
            for r in live_rounds(config, n_domains, n_meta_train, answers_per_pair, policy)]


def start_gpu_hours(config: dict, n_domains: int, n_meta_train: int, answers_per_pair: float) -> float:
    """Round 0 of a seed (rule simulate_selection_start): its meta-training and evaluation, shared by the policies."""
    first = replay_rounds(config, n_domains, n_meta_train, answers_per_pair, "random")[0]
    return first["meta_train_gpu_hours"] + first["evaluate_gpu_hours"]


def replay_answers(config: dict, n_domains: int, n_meta_train: int, answers_per_pair: float,
                   policy: str) -> tuple[float, float]:
    """Answers MetaSFT samples (and a judge scores) in a seed's round 0, and in one policy's curve after it."""
    rounds = replay_rounds(config, n_domains, n_meta_train, answers_per_pair, policy)
    return (rounds[0]["evaluate_answers"],
            sum(r["probe_answers"] + (r["evaluate_answers"] if i else 0.0) for i, r in enumerate(rounds)))


def curve_gpu_hours(config: dict, n_domains: int, n_meta_train: int, answers_per_pair: float, policy: str) -> float:
    """One replayed curve after its shared round 0 (rule simulate_selection): the later rounds' meta-training and
    evaluation, and every round's probes."""
    rounds = replay_rounds(config, n_domains, n_meta_train, answers_per_pair, policy)
    return sum(r["probe_gpu_hours"] + (r["meta_train_gpu_hours"] + r["evaluate_gpu_hours"] if i else 0.0)
               for i, r in enumerate(rounds))


def selection_resources(config: dict, rule: str, n_domains: int, domains_in_job: int = 1,
                        params_b: float | None = None, answers_per_pair: float | None = None) -> dict:
    """SLURM resources of a replayed selection curve (rule simulate_selection; its start job takes the same): a model
    job sized for the costliest policy, uncertainty (its probes once per draw); on the tiny model two hours, as its
    curves on CPU take tens of minutes. The signature is `metasft.pipeline.resources.job_resources`'s."""
    from metasft.suites.domains import split_domains

    if config["base_model"] == "tiny":
        return {"mem_mb": 4000, "runtime": 120, "cpus_per_task": config["selection"]["simulation"]["threads"],
                "gpu": 1}
    if answers_per_pair is None:
        answers_per_pair = config["generation"]["eval_questions_per_domain"] * config["generation"]["samples_per_question"]
    n_meta_train = sum(s == "meta_train" for s in split_domains(
        [str(i) for i in range(n_domains)], 0, config["split"]["meta_train_fraction"]).values())
    size = model_params_billions(config) if params_b is None else params_b
    sized = {**config, "cluster": {**config.get("cluster", {}), "model_params_b": size}}  # no second size lookup
    selection = config["selection"]
    # Rules are sized while the workflow is parsed, whether or not this config runs them; only a config that does
    # has a selection schedule its meta-train half can fill (checked with its error before this).
    used = selection["enabled"] or selection["simulation"]["enabled"]
    hours = curve_gpu_hours(sized, n_domains, n_meta_train, answers_per_pair, "uncertainty") if used else 0.0
    return {"mem_mb": int(16000 + 6000 * size), "runtime": int(15 + 2 * 60 * hours), "cpus_per_task": 8, "gpu": 1}
