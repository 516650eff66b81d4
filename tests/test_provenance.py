"""run_info.json: what software on what machine computed a run (metasft.pipeline.provenance)."""
import json

import pytest

from metasft.pipeline.provenance import config_hash, environment, job_environments, run_info


def test_config_hash_ignores_key_order_and_sees_every_value():
    config = {"seed": 0, "metrics": {"resample": "domains", "confidence": 0.95}}
    reordered = {"metrics": {"confidence": 0.95, "resample": "domains"}, "seed": 0}
    assert config_hash(config) == config_hash(reordered)
    assert config_hash(config) != config_hash({**config, "seed": 1})
    assert len(config_hash(config)) == 64


def test_environment_names_the_torch_build_and_cpu_capability():
    info = environment(with_torch=True)
    assert info["packages"]["torch"] == info["torch"]["version"]
    import torch

    assert info["torch"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability() != ""
    assert info["torch"]["threads"] >= 1 and info["cpu_count"] >= 1
    assert isinstance(info["torch"]["gpus"], list)


def test_run_info_groups_the_training_jobs_by_environment(tmp_path):
    results = tmp_path / "results" / "r"
    one = {"python": "3.11", "torch": {"cpu_capability": "AVX2"}}
    other = {"python": "3.11", "torch": {"cpu_capability": "AVX512"}}
    for folder, env, name in (("base_model", one, "pretraining.json"), ("finetune/part000/a", one, "training.json"),
                              ("finetune/part000/b", other, "training.json"), ("meta/adapter", one, "training.json")):
        (results / folder).mkdir(parents=True)
        (results / folder / name).write_text(json.dumps({"train_loss": 1.0, "environment": env}))
    (results / "meta_nl" / "adapter").mkdir(parents=True)  # an older folder without a training record: skipped
    info = run_info(results, tmp_path / "run_info.json", config={"run": "r", "seed": 3, "metrics": {"resample": "pairs"}})
    assert json.loads((tmp_path / "run_info.json").read_text()) == info
    groups = {job["environment"]["torch"]["cpu_capability"]: job["models"] for job in info["training_jobs"]}
    assert groups == {"AVX2": ["base_model", "finetune/part000/a", "meta/adapter"], "AVX512": ["finetune/part000/b"]}
    assert info["metrics_resample"] == "pairs" and info["replicates"] == 1
    assert info["replicate"] == 0 and info["training_seed"] == 3
    replicate = run_info(results, tmp_path / "replicate.json", config={
        "run": "r/replicates/2", "seed": 3, "replicate_of": {"run": "r", "index": 2, "models_from": None}})
    assert replicate["replicate"] == 2 and replicate["training_seed"] != 3
    assert "Bit for bit" in info["reproducibility"]


def test_a_damaged_training_record_names_the_file(tmp_path):
    folder = tmp_path / "meta" / "adapter"
    folder.mkdir(parents=True)
    (folder / "training.json").write_text('{"train_loss": 1.')
    with pytest.raises(ValueError, match=r"meta/adapter/training\.json is damaged .*rebuild"):
        job_environments(tmp_path)
