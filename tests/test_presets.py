"""Presets: a layered preset (`extends:`) resolves as its layers merged under its own keys, in the workflow and in
`load_config` alike, and every shipped preset plans the jobs recorded in tests/data/preset_jobs.json (recorded from the
flat presets before they were layered; a change meant to alter a plan rewrites the file with
METASFT_UPDATE_PRESET_JOBS=1)."""

import json
import os
import re

import pytest
import yaml
from conftest import PRESETS, ROOT, snakemake

from metasft.pipeline.config import ConfigError, layered_config, load_config, read_preset

JOBS = ROOT / "tests" / "data" / "preset_jobs.json"


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data) if isinstance(data, dict) else data)
    return path


def test_a_preset_takes_its_layers_in_order_and_its_own_keys_over_them(tmp_path):
    write(tmp_path / "layers" / "base.yaml", {"seed": 1, "finetune": {"max_steps": 30, "learning_rate": 0.1},
                                              "suite": {"domains": []}})
    write(tmp_path / "layers" / "model.yaml", {"extends": "base.yaml", "base_model": "org/model",
                                               "finetune": {"max_steps": 40}})  # a layer may extend too
    write(tmp_path / "layers" / "other.yaml", {"finetune": {"learning_rate": 0.2}, "suite": {"domains": ["a"]}})
    preset = write(tmp_path / "suite_model.yaml", {"extends": ["layers/model.yaml", "layers/other.yaml"],
                                                   "run": "mine", "finetune": {"batch_size": 4}})
    assert read_preset(preset) == {"seed": 1, "base_model": "org/model", "run": "mine",
                                   "suite": {"domains": ["a"]},  # lists are replaced, not joined
                                   "finetune": {"max_steps": 40, "learning_rate": 0.2, "batch_size": 4}}
    # under a later --configfile and --config, as Snakemake layers them
    later = write(tmp_path / "later.yaml", {"finetune": {"max_steps": 5}})
    layered = layered_config([preset, later], {"seed": 9}, defaults=[write(tmp_path / "d.yaml", {"icl": {"k": 2}})])
    assert layered["finetune"] == {"max_steps": 5, "learning_rate": 0.2, "batch_size": 4}
    assert (layered["seed"], layered["icl"], layered["run"]) == (9, {"k": 2}, "mine")


def test_bad_extends_name_the_file(tmp_path):
    loop = write(tmp_path / "a.yaml", {"extends": "b.yaml"})
    write(tmp_path / "b.yaml", {"extends": "a.yaml"})
    with pytest.raises(ConfigError, match=rf"{re.escape(str(loop))}: extends itself \({re.escape(str(loop))} -> "):
        read_preset(loop)
    missing = write(tmp_path / "m.yaml", {"extends": ["nowhere.yaml"]})
    named_by = re.escape(str(missing))
    with pytest.raises(ConfigError, match=rf"nowhere.yaml: config file not found \(in extends: of {named_by}\)"):
        read_preset(missing)
    odd = write(tmp_path / "o.yaml", {"extends": {"file": "a.yaml"}})
    with pytest.raises(ConfigError, match=r"o.yaml: extends: must be a file name or a list of them, got \{'file'"):
        read_preset(odd)
    with pytest.raises(ConfigError, match=r"l.yaml: a config file is a mapping of keys, got list"):
        read_preset(write(tmp_path / "l.yaml", "- 1\n- 2\n"))


def test_the_paper_presets_share_their_layers():
    """What the presets hold is what differs: the hyper-parameters live in one base layer."""
    paper = [p for p in PRESETS if p.startswith("config/presets/paper/")]
    assert len(paper) == 11
    for preset in paper:
        own = yaml.safe_load((ROOT / preset).read_text())
        assert own["extends"][0] == "layers/base.yaml" and "learning_rate" not in str(own.get("finetune", {})), preset
    assert load_config([str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml")])["meta_train"]["max_steps"] == 3000


def test_a_user_config_may_extend_a_shipped_preset_in_the_workflow(workflow_copy):
    write(workflow_copy / "mine.yaml", {"extends": "config/presets/paper/traits_qwen3_4b.yaml",
                                        "generation": {"samples_per_question": 2}})
    result = snakemake(workflow_copy, "-n", "--configfile", "mine.yaml", "--config", "run=my_traits")
    output = result.stdout + result.stderr
    assert "run my_traits: suite traits, 100 domains (50 meta_train, 50 meta_eval)" in output  # --config on top
    assert "base model Qwen/Qwen3-4B-Base" in output  # from the model layer, through the preset
    bad = write(workflow_copy / "bad.yaml", {"extends": "config/presets/paper/nothing.yaml"})
    failed = snakemake(workflow_copy, "-n", "--configfile", str(bad.name), check=False)
    assert failed.returncode != 0
    assert "invalid config: " in failed.stderr + failed.stdout and "nothing.yaml: config file not found" in \
        failed.stderr + failed.stdout


def job_counts(output: str) -> dict[str, int]:
    block = output.split("Job stats:")[1].split("Reasons:")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M) if m.group(1) != "total"}


@pytest.mark.slow
def test_every_preset_plans_the_recorded_jobs(workflow_copy):
    recorded = json.loads(JOBS.read_text())
    planned = {}
    for preset in PRESETS:
        result = snakemake(workflow_copy, "-n", "--configfile", preset)  # no API key needed to plan
        planned[preset] = job_counts(result.stdout + result.stderr)
    if os.environ.get("METASFT_UPDATE_PRESET_JOBS"):
        JOBS.write_text(json.dumps(planned, indent=1, sort_keys=True) + "\n")
    assert planned == recorded
