"""Config checks the workflow runs at DAG time, before any job: secrets, model references, the domain split."""

import pytest

from metasft.pipeline.config import (
    ConfigError,
    check_model_reference,
    check_models,
    check_no_secrets,
    check_split,
    find_secrets,
)
from metasft.suites.domains import split_domains


def test_secrets_are_found_by_key_or_by_value_and_counts_are_not():
    config = {"judge": {"anthropic": {"api_key": "sk-ant-x", "max_tokens": 32, "model": "claude-haiku-4-5"}},
              "generation": {"max_new_tokens": 24, "max_batch_tokens": 100},
              "extra": [{"hf_token": "hf_abc"}, {"note": " sk-ant-pasted-here"}],
              "empty": {"api-key": ""}, "suite": {"Secret": "x", "tokenizer": "mine"}}
    assert find_secrets(config) == ["judge.anthropic.api_key", "extra[0].hf_token", "extra[1].note", "suite.Secret"]
    with pytest.raises(ConfigError) as error:
        check_no_secrets({"judge": {"anthropic": {"api_key": "sk-ant-VALUE"}}})
    assert "judge.anthropic.api_key" in str(error.value) and "ANTHROPIC_API_KEY" in str(error.value)
    assert "VALUE" not in str(error.value)
    check_no_secrets({"judge": {"anthropic": {"max_tokens": 32}}})


def test_model_references_are_a_saved_folder_or_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for hub_id in ["Qwen/Qwen3-4B-Base", "meta-llama/Llama-3.1-8B", "org_1/model.v2"]:
        check_model_reference(hub_id, "base_model")
    (tmp_path / "models" / "saved").mkdir(parents=True)
    (tmp_path / "models" / "saved" / "config.json").write_text("{}")
    check_model_reference("models/saved", "base_model")
    check_model_reference(str(tmp_path / "models" / "saved"), "base_model")
    (tmp_path / "models" / "weights.bin").write_text("")
    cases = {
        "./models/typo": "base_model './models/typo': no such model folder, and not a hub id",
        str(tmp_path / "gone"): f"base_model '{tmp_path / 'gone'}': no such model folder",
        "models/deeper/typo": "no such model folder",
        "gpt2": "not a hub id of the form owner/name",
        "Qwen/Qwen3 4B": "no such model folder",
        "owner/--name": "no such model folder",
        "models": "the folder holds no config.json",
        "models/weights.bin": "is a file",
    }
    for value, message in cases.items():
        with pytest.raises(ConfigError) as error:
            check_model_reference(value, "base_model")
        assert message in str(error.value), value


def test_split_needs_two_domains_on_each_side():
    config = {"split": {"meta_train_fraction": 0.5}}
    check_split(split_domains(["a", "b", "c", "d"], 0, 0.5), config)
    with pytest.raises(ConfigError, match=r"3 domains split into 2 meta_train and 1 meta_eval; each half needs at "
                                          r"least 2: choose more domains in suite.domains .* split.meta_train_"
                                          r"fraction \(0.5\)"):
        check_split(split_domains(["a", "b", "c"], 0, 0.5), config)
    config = {"split": {"meta_train_fraction": 0.9}}
    with pytest.raises(ConfigError, match="12 domains split into 11 meta_train and 1 meta_eval"):
        check_split(split_domains([f"d{i}" for i in range(12)], 0, 0.9), config)



def test_judge_model_is_checked_like_the_base_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def config(model, backend="hf"):
        return {"base_model": "Qwen/Qwen3-4B-Base", "judge": {"backend": backend, "hf": {"model": model}}}

    with pytest.raises(ConfigError, match="judge.hf.model './judges/mine': no such model folder"):
        check_models(config("./judges/mine"))
    (tmp_path / "judges" / "mine").mkdir(parents=True)
    with pytest.raises(ConfigError, match="judge.hf.model 'judges/mine': the folder holds no config.json"):
        check_models(config("judges/mine"))
    check_models(config("./judges/mine", backend="categorical"))  # no judge model in use
    check_models(config("tiny"))  # the run's own base model
    with pytest.raises(ConfigError, match="base_model '/nowhere/model'"):
        check_models({**config("tiny"), "base_model": "/nowhere/model"})


def test_the_cost_planner_refuses_a_secret_too(tmp_path):
    from metasft.pipeline.config import load_config

    preset = tmp_path / "preset.yaml"
    preset.write_text("judge:\n  anthropic:\n    api_key: sk-ant-PlannerSecret\n")
    with pytest.raises(ConfigError) as error:
        load_config([str(preset)])
    assert "judge.anthropic.api_key" in str(error.value) and "PlannerSecret" not in str(error.value)


def test_the_primary_comparison_must_name_two_methods_the_run_predicts_with():
    from metasft.pipeline.config import check_primary

    config = {"metrics": {"primary": {"method": "MetaSFT", "baseline": "UntrainedICL"}}}
    check_primary(config, nl=False)
    with pytest.raises(ConfigError, match="metrics.primary compares MetaSFT with itself"):
        check_primary({"metrics": {"primary": {"method": "MetaSFT", "baseline": "MetaSFT"}}}, nl=True)
    nl_primary = {"metrics": {"primary": {"method": "MetaSFT-NL", "baseline": "UntrainedNL"}}}
    check_primary(nl_primary, nl=True)
    with pytest.raises(ConfigError, match="metrics.primary names MetaSFT-NL, UntrainedNL, and this run has no NL"):
        check_primary(nl_primary, nl=False)


def test_schema_errors_are_one_line_per_key_with_value_and_what_is_allowed():
    from metasft.pipeline.config import check_schema, load_schema
    from metasft.pipeline.validation import schema_problems

    config = {"run": "../../etc", "replicates": "3",
              "generation": {"samples_per_question": 0, "sampels_per_question": 3, "backend": "vlm"},
              "cluster": {"minutes_per_unit": {"finetune": "2"}}}
    assert schema_problems(config, load_schema()) == [
        "cluster.minutes_per_unit.finetune: '2' is not allowed; allowed: a number",
        "generation.backend: 'vlm' is not allowed; allowed: one of 'hf', 'vllm'",
        "generation.samples_per_question: 0 is not allowed; allowed: at least 1",
        "generation: unknown key 'sampels_per_question' (did you mean 'samples_per_question'?); allowed keys: "
        "backend, batch_size, domains_per_job, eval_questions_per_domain, max_batch_tokens, max_new_tokens, "
        "min_new_tokens, samples_per_question, static_decode, temperature, threads, top_p, vllm",
        "replicates: '3' is not allowed; allowed: a whole number",
        "run: '../../etc' is not allowed; allowed: text matching ^[A-Za-z0-9][A-Za-z0-9_.-]*(/replicates/[0-9]+)?$ "
        "(results go to results/<run>/)",
    ]
    with pytest.raises(ConfigError, match=r"config has 6 problems \(keys and bounds: config/schema.yaml\):\n  clus"):
        check_schema(config, load_schema())
    check_schema({"generation": {"samples_per_question": 2}}, load_schema())


def test_schema_errors_never_show_a_value_under_a_credential_key():
    from metasft.pipeline.validation import schema_problems

    schema = {"type": "object", "properties": {"api_key": {"type": "integer"}, "note": {"type": "integer"}}}
    assert schema_problems({"api_key": "hunter2", "note": "x" * 100}, schema) == [
        "api_key: (value hidden) is not allowed; allowed: a whole number",
        f"note: '{'x' * 56}... is not allowed; allowed: a whole number",
    ]


def test_method_and_rule_names_are_checked_against_the_registry():
    """The schema leaves these names to metasft.sources and the resources' rule list, so a new method is one row."""
    from metasft.pipeline.config import check_config, load_config
    from metasft.pipeline.resources import check_minutes_per_unit

    config = load_config([])
    config["inverse"]["methods"] = ["MetaSFT", "MetaSFT->NL"]
    with pytest.raises(ConfigError, match=r"^inverse.methods: 'MetaSFT->NL' is not a method \(did you mean "
                                          r"'MetaSFT-to-NL'\?\); allowed: UntrainedICL, MetaSFT, UntrainedNL, "
                                          r"MetaSFT-to-NL, MetaSFT-NL$"):
        check_config(config)
    config["inverse"]["methods"] = ["MetaSFT", "GT"]  # GT answers from golden's samples: it has no model to rank with
    with pytest.raises(ConfigError, match=r"^inverse.methods: 'GT' is not a method; allowed: UntrainedICL"):
        check_config(config)
    config = load_config([])
    config["metrics"]["primary"]["baseline"] = "UntrainedIcl"
    with pytest.raises(ConfigError, match=r"metrics.primary.baseline: 'UntrainedIcl' is not a method \(did you mean "
                                          r"'UntrainedICL'\?\); allowed: GT, GT-EvalOnly, GT-TrainOnly, UntrainedICL"):
        check_config(config)
    config = load_config([])
    config["cluster"]["minutes_per_unit"] = {"finetun": 2.0, "golden": 0.1}
    with pytest.raises(ConfigError, match=r"cluster.minutes_per_unit: unknown rule 'finetun'; allowed: pretrain_base, "
                                          r"finetune, golden, predict_icl, predict_metasft, predict_nl"):
        check_minutes_per_unit(config)
