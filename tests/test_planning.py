import pytest
import yaml
from conftest import PRESETS, ROOT

from metasft.pipeline.config import ConfigError, load_config
from metasft.runs.plan import DEFAULT_BUDGET, main, over_budget, plan, run_budget
from metasft.pipeline.resources import job_resources, model_params_billions


def test_model_size_is_read_off_the_hub_id_or_config():
    assert model_params_billions({"base_model": "Qwen/Qwen3-4B-Base"}) == 4
    assert model_params_billions({"base_model": "Qwen/Qwen2.5-0.5B"}) == 0.5
    assert model_params_billions({"base_model": "Qwen/Qwen3-14B"}) == 14
    assert model_params_billions({"base_model": "tiny"}) == 0.001
    assert model_params_billions({"base_model": "/models/mine", "cluster": {"model_params_b": 7}}) == 7
    with pytest.raises(ConfigError, match="set cluster.model_params_b"):
        model_params_billions({"base_model": "/models/mine"})


def test_gpu_job_resources_scale_with_model_size_and_job_work():
    small = load_config([str(ROOT / "config/presets/paper/trivia_qwen25_05b.yaml")])
    large = load_config([str(ROOT / "config/presets/paper/trivia_qwen3_14b.yaml")])
    for rule in ("finetune", "golden", "meta_train"):
        assert job_resources(large, rule, 100)["mem_mb"] > job_resources(small, rule, 100)["mem_mb"]
        assert job_resources(large, rule, 100)["runtime"] > job_resources(small, rule, 100)["runtime"]
    assert job_resources(large, "golden", 100, 10)["runtime"] > job_resources(large, "golden", 100, 1)["runtime"]
    assert job_resources(large, "score", 100) == {"mem_mb": 4000, "runtime": 30, "cpus_per_task": 1, "gpu": 0}
    em = load_config([str(ROOT / "config/presets/paper/evil_advice_qwen3_4b.yaml")])
    assert job_resources(em, "score", 100, 10)["gpu"] == 0  # the Claude judge needs network, not a GPU
    assert job_resources(em, "score", 100, 10)["runtime"] >= 24 * 60  # a message batch may take a day
    local_judge = {**em, "judge": {**em["judge"], "backend": "hf", "hf": {**em["judge"]["hf"], "model": "Qwen/Qwen3-8B"}}}
    assert job_resources(local_judge, "score", 100, 10)["gpu"] == 1
    # the tiny default fits a laptop-sized node
    assert job_resources(load_config([]), "finetune", 12)["mem_mb"] <= 4000


def test_presets_merge_over_the_default_and_get_schema_defaults():
    config = load_config([str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml")])
    assert config["base_model"] == "Qwen/Qwen3-4B-Base"
    assert config["suite"]["domains"] == []  # the preset's empty list replaces the default's 12 domains
    assert config["finetune"]["lora"]["target_modules"][0] == "q_proj"  # filled from the schema
    assert config["cluster"] == {"model_params_b": None, "minutes_per_unit": {}}


def test_plan_counts_jobs_like_the_dag(capsys):
    rows = {r["rule"]: r for r in plan(load_config([str(ROOT / "config/presets/paper/trivia_qwen3_14b.yaml")]))}
    assert rows["finetune"]["jobs"] == 100 and rows["golden"]["jobs"] == 10
    assert rows["golden"]["answers"] == 100 * 100 * 8 * 8
    assert rows["meta_shards"]["answers"] == 50 * 50 * 64
    assert rows["finetune"]["gpu_hours"] > 0 and rows["score"]["gpu_hours"] == 0
    # inverse prediction: per eval domain, 2 methods x 2 halves x 50 candidates x 50 train domains x 8 questions x 1
    # observed answer, at most (distinct answers only are scored)
    assert rows["inverse_likelihoods"]["jobs"] == 10 and rows["inverse"]["jobs"] == 1
    assert rows["inverse_likelihoods"]["answers"] == 100 * 2 * 2 * 50 * 50 * 8
    assert rows["inverse_likelihoods"]["gpu_hours"] > 0 and "describe_domains" not in rows
    # a seeded sample of 20 eval domains: the same 10 jobs (2 domains each), a fifth of the work
    sampled = load_config([str(ROOT / "config/presets/paper/trivia_qwen3_14b.yaml")])
    sampled["inverse"]["eval_domains"] = 20
    inverse_rows = {r["rule"]: r for r in plan(sampled)}["inverse_likelihoods"]
    assert inverse_rows["jobs"] == 10 and inverse_rows["answers"] == 20 * 2 * 2 * 50 * 50 * 8
    assert inverse_rows["gpu_hours"] == pytest.approx(rows["inverse_likelihoods"]["gpu_hours"] / 5)
    em = {r["rule"]: r for r in plan(load_config([str(ROOT / "config/presets/paper/evil_advice_qwen3_4b.yaml")]))}
    assert em["describe_domains"]["requests"] == 100  # no advice area describes itself: Claude writes all 100
    main(["--configfile", str(ROOT / "config/presets/paper/trivia_qwen3_14b.yaml"), "--gpu-hour-cost", "2"])
    printed = capsys.readouterr().out
    assert "Qwen/Qwen3-14B (14B parameters)" in printed
    assert "API requests (judge): 0" in printed and "estimated GPU cost:" in printed


def test_metrics_resources_grow_with_pairs_permutations_and_resamples():
    paper = load_config([str(ROOT / "config/presets/paper/trivia_qwen3_14b.yaml")])
    default = load_config([])
    small, large = job_resources(default, "metrics", 12), job_resources(paper, "metrics", 100)
    assert small["mem_mb"] < large["mem_mb"] and small["runtime"] < large["runtime"]
    # 10,000 pairs x (3 x 100 + 5) prediction rows (GT-*: 100 permutations; UntrainedICL, MetaSFT and the three NL
    # methods: one) at about 300 bytes, doubled, over a 1 GB floor; without the NL methods 3 x 100 + 2
    assert large["mem_mb"] == int(1000 + 2 * 10000 * 305 * 300 / 1e6)
    without_nl = {**paper, "nl": {**paper["nl"], "enabled": False}}
    assert job_resources(without_nl, "metrics", 100)["mem_mb"] == int(1000 + 2 * 10000 * 302 * 300 / 1e6)
    fewer_resamples = {**paper, "metrics": {**paper["metrics"], "bootstrap_resamples": 100}}
    assert job_resources(fewer_resamples, "metrics", 100)["runtime"] < large["runtime"]
    assert job_resources(fewer_resamples, "metrics", 100)["mem_mb"] == large["mem_mb"]  # batched bootstrap


def save_tiny_model(folder, **save):
    """A small Qwen3 model saved like the tiny base (offline, random weights)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(vocab_size=320, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, head_dim=16, intermediate_size=64, tie_word_embeddings=True)
    model = Qwen3ForCausalLM(config)
    model.save_pretrained(folder, **save)
    return model.num_parameters()


def test_model_size_is_read_from_a_local_model_folder(tmp_path):
    from metasft.pipeline.resources import local_model_params

    params = save_tiny_model(tmp_path / "single")
    assert local_model_params(str(tmp_path / "single")) == params  # safetensors headers: exact
    assert model_params_billions({"base_model": str(tmp_path / "single")}) == params / 1e9
    assert save_tiny_model(tmp_path / "sharded", max_shard_size="20KB") == params
    assert (tmp_path / "sharded" / "model.safetensors.index.json").exists()
    assert local_model_params(str(tmp_path / "sharded")) == params
    # weights in another format: estimated from config.json
    (tmp_path / "config_only").mkdir()
    (tmp_path / "config_only" / "config.json").write_text((tmp_path / "single" / "config.json").read_text())
    assert abs(local_model_params(str(tmp_path / "config_only")) - params) < 0.02 * params
    # nothing tells: only then is cluster.model_params_b asked for, and it wins when given
    (tmp_path / "unknown").mkdir()
    (tmp_path / "unknown" / "config.json").write_text('{"model_type": "custom"}')
    with pytest.raises(ConfigError, match="base_model '.*unknown' .*set cluster.model_params_b"):
        model_params_billions({"base_model": str(tmp_path / "unknown")})
    assert model_params_billions({"base_model": str(tmp_path / "unknown"), "cluster": {"model_params_b": 3}}) == 3


def test_exactly_the_model_rules_ask_for_a_gpu_and_the_profile_leaves_them_alone():
    """The rules' own resources give the GPU (tests/test_slurm.py sees it in the sbatch calls); a profile entry for
    one of them would replace what the rule computes."""
    from metasft.pipeline.resources import DEFAULT_MINUTES_PER_UNIT, GPU_RULES
    from metasft.sources import SAMPLING_RULES

    config = load_config([str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml")])
    rules = [*DEFAULT_MINUTES_PER_UNIT, "suite", "score", "metrics", "baselines", "plots"]
    assert {r for r in rules if job_resources(config, r, 100, 1, 4.0, 64).get("gpu")} == set(GPU_RULES)
    assert set(SAMPLING_RULES) < set(GPU_RULES) and set(DEFAULT_MINUTES_PER_UNIT) == set(GPU_RULES)
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    assert not set(profile.get("set-resources", {})) & set(GPU_RULES)


def test_a_plan_over_budget_names_the_limit_the_rules_that_drive_it_and_the_key_to_raise(capsys):
    paper = load_config([str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml")])
    assert run_budget(paper) == DEFAULT_BUDGET and over_budget(plan(paper), paper) is None
    typo = load_config([str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml")])
    typo["generation"]["samples_per_question"] = 1_000_000_000
    message = over_budget(plan(typo), typo)
    lines = message.splitlines()
    assert lines[0].startswith("the plan exceeds budget.max_gpu_hours: ") and lines[0].endswith(
        " GPU-hours against a limit of 500")
    assert lines[1].split() == ["rule", "jobs", "GPU-hours", "answers", "judge", "requests"]
    # the sampling rules first (most GPU-hours), 10 jobs of 10 domains each, 100 x 100 pairs x 8 x 1e9 answers
    assert lines[2].split()[:2] == ["predict_icl", "10"] and lines[2].split()[3] == "8e+13"
    assert "raise budget.max_gpu_hours in your config file" in lines[-1]
    typo["budget"]["max_gpu_hours"] = 1e12
    assert over_budget(plan(typo), typo) is None
    # the tiny model's local runs have no GPU-hour or job limit unless one is set; jobs count replicates
    tiny = load_config([])
    assert run_budget(tiny) == {"max_gpu_hours": None, "max_judge_requests": 10_000_000, "max_jobs": None}
    tiny["generation"]["samples_per_question"] = 1_000_000_000
    assert over_budget(plan(tiny), tiny) is None  # categorical: no judge requests
    judged_tiny = load_config([str(ROOT / "config/presets/examples/judged_example.yaml")])
    assert judged_tiny["base_model"] == "tiny" and over_budget(plan(judged_tiny), judged_tiny) is None
    judged_tiny["budget"]["max_judge_requests"] = 1_000  # its 2,592 requests to the API are paid for all the same
    assert over_budget(plan(judged_tiny), judged_tiny).startswith(
        "the plan exceeds budget.max_judge_requests: 2,592 judge requests against a limit of 1,000")
    jobs = sum(r["jobs"] for r in plan(tiny))
    tiny["budget"]["max_jobs"] = jobs
    assert over_budget(plan(tiny), tiny) is None
    tiny["replicates"] = 2
    assert over_budget(plan(tiny), tiny).splitlines()[0] == (
        f"the plan exceeds budget.max_jobs: {sum(r['jobs'] for r in plan(tiny)):,} jobs against a limit of {jobs}")
    # judge requests count only for the Anthropic judge
    em = load_config([str(ROOT / "config/presets/paper/evil_advice_qwen3_4b.yaml")])
    em["budget"]["max_judge_requests"] = 1_000_000
    assert "budget.max_judge_requests: 7,680,000 judge requests against a limit of 1e+06" in over_budget(plan(em), em)
    main(["--configfile", str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml")])
    assert "budget: max_gpu_hours 500, max_judge_requests 10,000,000, max_jobs 5,000" in capsys.readouterr().out


@pytest.mark.parametrize("preset", PRESETS)
def test_every_shipped_preset_is_within_its_own_budget(preset):
    config = load_config([str(ROOT / preset)])
    assert over_budget(plan(config), config) is None


SELECTION = {"initial": 10, "per_round": 20, "budget": 30, "warm_start": True, "probe_eval_domains": 5,
             "probe_samples_per_question": 1, "uncertainty_draws": 3,
             "simulation": {"enabled": True, "policies": ["random", "uncertainty"], "seeds": 2, "eval_domains": 4}}


def selection_config(tmp_path, selection=SELECTION):
    preset = tmp_path / "selection.yaml"
    preset.write_text(yaml.safe_dump({"selection": selection}))
    return load_config([str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml"), str(preset)])


def test_the_plan_prices_a_live_selection_loop_round_by_round(tmp_path, capsys):
    from metasft.selection.cost import live_rounds

    config = selection_config(tmp_path)
    # Qwen3-4B (x4), 100 domains, 50 meta-train, 64 answers per pair, 8 questions per domain. Per domain: a fine-tune
    # 0.5 x 4 = 2 min, its golden row 100 x 64 / 100 x 0.02 x 4 = 5.12 min. Meta-training 3000 steps x 0.3 / 100 x 4 =
    # 36 min, warm: 600 steps (10 of 50) then 1,200 (20 of 50). Surprise probes before round 1: 40 candidates x 5 eval
    # domains x 8 questions x 1 answer = 1,600 answers, 16 x 0.04 x 4 = 2.56 min.
    rounds = live_rounds(config, 100, 50, 64, "surprise")
    assert [(r["added"], r["fine_tunes"]) for r in rounds] == [(10, 10), (20, 30)]
    assert rounds[0]["finetune_gpu_hours"] == pytest.approx(10 * 7.12 / 60)
    assert rounds[1]["finetune_gpu_hours"] == pytest.approx(20 * 7.12 / 60)
    assert [r["meta_train_gpu_hours"] for r in rounds] == pytest.approx([7.2 / 60, 14.4 / 60])
    assert [r["probe_gpu_hours"] for r in rounds] == pytest.approx([2.56 / 60, 0.0])
    assert live_rounds(config, 100, 50, 64, "uncertainty")[0]["probe_gpu_hours"] == pytest.approx(3 * 2.56 / 60)
    assert live_rounds(config, 100, 50, 64, "diversity")[0]["probe_gpu_hours"] == 0
    assert main(["--configfile", str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml"), str(tmp_path / "selection.yaml"),
                 "--selection-policy", "surprise"]) == 0
    out = capsys.readouterr().out
    assert "selection, policy surprise (warm meta-training): 10 meta-train domains, then 20 a round, up to 30 of 50" in out
    # 30 x 7.12 + 7.2 + 14.4 + 2.56 = 237.76 min; all 50: 50 x 7.12 + 36 = 392 min
    assert "4.0  against 6.5 GPU-hours for all 50 meta-train fine-tunes" in out


def test_the_plan_counts_the_replay_jobs_and_their_gpu_hours(tmp_path):
    config = selection_config(tmp_path)
    rows = {r["rule"]: r for r in plan(config)}
    # evaluation: 4 x 4 x 2 + 4 x 4 = 48 pairs x 64 answers, 30.72 x 0.04 x 4 = 4.9152 min a round
    assert rows["simulate_selection_start"]["jobs"] == 2
    assert rows["simulate_selection_start"]["gpu_hours"] == pytest.approx(2 * (7.2 + 4.9152) / 60)
    # after round 0: random 14.4 + 4.9152; uncertainty the same and its probes of round 0, 3 x 1,600 answers (7.68 min)
    assert rows["simulate_selection"]["jobs"] == 4
    assert rows["simulate_selection"]["gpu_hours"] == pytest.approx(2 * (2 * 19.3152 + 7.68) / 60)
    assert rows["learning_curve"]["jobs"] == 1
    # answers: 3,072 a seed's round 0; a curve 3,072 later, and uncertainty's 4,800 probe answers
    assert rows["simulate_selection_start"]["answers"] == 2 * 3072
    assert rows["simulate_selection"]["answers"] == 2 * (2 * 3072 + 4800)
    from metasft.selection.cost import selection_resources

    resources = selection_resources(config, "simulate_selection", 100)
    assert resources["runtime"] == int(15 + 2 * (19.3152 + 7.68)) and resources["gpu"] == 1
    assert "simulate_selection" not in {r["rule"] for r in plan(load_config([
        str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml")]))}
    # a run too small for the default schedule (10 initial domains) still sizes the rule it never runs
    small = load_config([str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml")])
    assert selection_resources(small, "simulate_selection", 4)["runtime"] == 15


def test_a_judged_runs_replay_counts_its_judge_requests(tmp_path):
    from metasft.runs.plan import judge_requests

    em = ROOT / "config/presets/paper/evil_advice_qwen3_4b.yaml"
    preset = tmp_path / "selection.yaml"
    preset.write_text(yaml.safe_dump({"selection": SELECTION}))
    without, with_replay = load_config([str(em)]), load_config([str(em), str(preset)])
    rows = plan(with_replay)
    replayed = sum(r["judgments"] for r in rows if r["rule"].startswith("simulate_selection"))
    assert replayed > 0 and judge_requests(rows, with_replay) == judge_requests(plan(without), without) + replayed


def test_a_live_selection_plans_only_the_rows_it_fine_tunes(tmp_path):
    preset = tmp_path / "live.yaml"
    preset.write_text(yaml.safe_dump({"selection": {"enabled": True, "initial": 10, "per_round": 10, "budget": 30},
                                      "inverse": {"enabled": False}}))
    config = load_config([str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml"), str(preset)])
    rows = {r["rule"]: r for r in plan(config)}
    # 50 meta-eval and 30 picked meta-train domains are fine-tuned (one a job) and their rows sampled: 80 x 100 x 64
    assert rows["finetune"]["jobs"] == 80 and rows["finetune"]["gpu_hours"] == pytest.approx(80 * 2 / 60)
    assert rows["golden"]["answers"] == 80 * 100 * 64 and rows["predict_metasft"]["answers"] == 80 * 100 * 64
    # 10 domains a job: the meta-eval half with the initial set (6 chunks), then each round's 10 (1 chunk each)
    assert rows["golden"]["jobs"] == 8
    assert rows["predict_icl"]["answers"] == 100 * 100 * 64  # the base model answers for every train domain
    # a meta-model and a pick for rounds 0 and 1 (cold: 36 min each); probes 40 and 30 candidates x 10 x 8 questions
    assert rows["selection_round_meta_train"]["jobs"] == 2
    assert rows["selection_round_meta_train"]["gpu_hours"] == pytest.approx(2 * 36 / 60)
    assert rows["selection_round"]["answers"] == 3200 + 2400
    assert rows["meta_shards"]["answers"] == 30 * 50 * 64 and rows["selection_rounds"]["jobs"] == 1
    assert rows["score"]["answers"] == sum(rows[r]["answers"] for r in (
        "golden", "predict_icl", "predict_metasft", "predict_nl", "predict_metasft_to_nl", "predict_metasft_nl"))
