"""Reruns that mean what they say: a finished run plans nothing (locally and with the SLURM profile), a result
setting reruns exactly the jobs it affects, a performance setting reruns nothing, and generated advice areas do
not change the DAG once they exist."""

import copy
import shutil

import pytest
import yaml
from conftest import ROOT, snakemake
from fake_anthropic import fake_anthropic_server
from test_em_workflow import DUMMY_KEY, GENERATED_AREA_CONFIG, run
from test_workflow import job_counts

from metasft.pipeline.config import load_config
from metasft.pipeline.reruns import PERFORMANCE_KEYS, job_settings, result_settings
from metasft.suites.load import load_suite

MINI = ["--configfile", "tests/configs/mini.yaml"]
# One job each; the mini suite is a preference suite, so the NL methods run too.
DOWNSTREAM_OF_GOLDEN = {"meta_shards", "meta_train", "meta_shards_nl", "meta_train_nl", "baselines", "metrics", "plots",
                        "nl_plots", "inverse", "run_info", "all"}  # run_info: after metrics, reads the model folders
INVERSE = {"inverse_likelihoods": 2, "inverse": 1}  # M_T's answers ranked by the forward models
META_SAMPLING = {"predict_metasft": 2, "predict_metasft_to_nl": 2, "predict_metasft_nl": 2}  # the meta-models' answers
SAMPLING_CHANGED = {"golden": 2, "predict_icl": 2, "predict_nl": 2, **META_SAMPLING, "score": 12} | \
    dict.fromkeys(DOWNSTREAM_OF_GOLDEN, 1) | INVERSE


def schema_node(schema: dict, section: str, path: str = ""):
    node = schema["properties"][section]
    for key in [k for k in path.split(".") if k]:
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
        node = node["properties"][key]
    return node


def default_config() -> dict:
    return load_config([])


def with_setting(config: dict, section: str, path: str, value) -> dict:
    changed = copy.deepcopy(config)
    node = changed[section]
    *parents, key = path.split(".")
    for parent in parents:
        node = node[parent]
    node[key] = value
    return changed


def test_every_performance_key_is_a_config_key():
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    for section, paths in PERFORMANCE_KEYS.items():
        for path in paths:
            assert "default" in schema_node(schema, section, path), f"{section}.{path}"


@pytest.mark.parametrize("section,path,value", [
    ("generation", "batch_size", 7), ("generation", "max_batch_tokens", 999), ("generation", "threads", 3),
    ("generation", "domains_per_job", 5), ("finetune", "threads", 4), ("meta_train", "threads", 4),
    ("tiny", "threads", 8), ("judge", "cache_dir", "/elsewhere"), ("judge", "hf.batch_size", 64),
    ("suite_generation", "timeout_s", 1.0), ("finetune", "gradient_checkpointing", False),
    ("meta_train", "gradient_checkpointing", True),
    ("judge", "anthropic.model", "another"),  # the categorical judge uses no anthropic settings
    ("generation", "vllm.dtype", "bfloat16"),  # nor does the hf engine use vllm's
])
def test_performance_and_unused_settings_are_not_result_settings(section, path, value):
    config = default_config()
    assert result_settings(with_setting(config, section, path, value), section) == result_settings(config, section)


@pytest.mark.parametrize("section,path,value", [
    ("generation", "temperature", 0.5), ("generation", "samples_per_question", 9), ("finetune", "learning_rate", 0.1),
    ("finetune", "batch_size", 2), ("finetune", "lora.r", 4), ("meta_train", "max_steps", 3), ("tiny", "max_steps", 5),
    ("suite_generation", "model", "another"),
])
def test_result_settings_change_with_what_changes_results(section, path, value):
    config = default_config()
    assert result_settings(with_setting(config, section, path, value), section) != result_settings(config, section)


def test_backend_sections_count_only_for_their_backend():
    config = with_setting(default_config(), "judge", "backend", "anthropic")
    judge = result_settings(config, "judge")
    assert "hf" not in judge and judge["anthropic"]["model"] == "claude-haiku-4-5"
    assert "concurrency" not in judge["anthropic"] and "cache_dir" not in judge
    changed = with_setting(config, "judge", "anthropic.model", "another")
    assert result_settings(changed, "judge") != judge
    vllm = with_setting(default_config(), "generation", "backend", "vllm")
    assert result_settings(vllm, "generation")["vllm"] == {"dtype": "auto", "max_model_len": None}


def test_result_settings_do_not_depend_on_key_order():
    config = default_config()
    reordered = copy.deepcopy(config)
    reordered["generation"] = dict(reversed(list(config["generation"].items())))
    reordered["finetune"]["lora"] = dict(reversed(list(config["finetune"]["lora"].items())))
    for section in ("generation", "finetune"):
        # Snakemake compares params by repr
        assert repr(result_settings(reordered, section)) == repr(result_settings(config, section))


@pytest.mark.parametrize("section", sorted(PERFORMANCE_KEYS))
@pytest.mark.parametrize("judge", ["anthropic", "hf"])
def test_job_settings_are_the_config_section_again(section, judge):
    config = copy.deepcopy(default_config())
    config["judge"]["backend"], config["generation"]["backend"] = judge, "vllm"
    config["generation"]["batch_size"] = 3  # not a default: the job must see the configured value
    config["judge"]["anthropic"]["concurrency"] = 2
    config["judge"]["hf"]["batch_size"] = 5
    expected = copy.deepcopy(config[section])
    if section == "judge":
        del expected["hf" if judge == "anthropic" else "anthropic"]
    assert job_settings(result_settings(config, section), config, section) == expected


def test_unshipped_advice_areas_do_not_depend_on_the_generated_folder(tmp_path):
    folder = ROOT / "resources" / "suites" / "evil_advice"
    before = load_suite(folder, tmp_path).subset(["career", "taxes"])
    assert before.pending == ["taxes"] and before.unshipped == ["taxes"]
    data = yaml.safe_load((folder / "domains" / "career.yaml").read_text())
    (tmp_path / "taxes.yaml").write_text(yaml.safe_dump({**data, "id": "taxes"}))
    after = load_suite(folder, tmp_path).subset(["career", "taxes"])
    assert after.pending == [] and after.unshipped == ["taxes"]
    assert after.domains["taxes"].train == before.domains["career"].train




def override(tmp_path, settings: dict) -> list[str]:
    """--configfile arguments: the mini config, then `settings` (a file outside the run's shared folder; nested
    --config values would reach the config as strings)."""
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(settings))
    return ["--configfile", "tests/configs/mini.yaml", str(path)]


@pytest.mark.slow
@pytest.mark.parametrize("profile", [[], ["--profile", "profiles/slurm"]], ids=["local", "slurm"])
def test_a_finished_run_plans_nothing(mini_run, profile):
    result = snakemake(mini_run, "-n", *MINI, *profile)
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.mark.slow
def test_performance_settings_rerun_nothing(mini_run, tmp_path):
    performance = {
        "generation": {"batch_size": 7, "max_batch_tokens": 999, "threads": 2},
        "finetune": {"threads": 2}, "meta_train": {"threads": 2}, "tiny": {"threads": 2},
        "judge": {"cache_dir": "elsewhere", "hf": {"batch_size": 2}, "anthropic": {"model": "x", "concurrency": 1}},
        "suite_generation": {"timeout_s": 5}, "inverse": {"batch_tokens": 64}}
    result = snakemake(mini_run, "-n", *override(tmp_path, performance))
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("settings,expected", [
    # sampling: the three sampling stages, their scores, and MetaSFT (trained on golden answers)
    ({"generation": {"temperature": 0.5}}, SAMPLING_CHANGED),
    # ObjectSFT: the adapters, the golden labels and everything after them, but not UntrainedICL or UntrainedNL
    ({"finetune": {"learning_rate": 0.002}},
     {"finetune": 2, "golden": 2, **META_SAMPLING, "score": 8} | dict.fromkeys(DOWNSTREAM_OF_GOLDEN, 1) | INVERSE),
    # in-context examples: the ICL prompts (UntrainedICL, both meta-models' data and answers), never the golden
    # labels or UntrainedNL's description prompts; the inverse likelihoods (ICL prompts, the MetaSFT adapter)
    ({"icl": {"k": 1}},
     {"predict_icl": 2, **META_SAMPLING, "score": 8, "meta_shards": 1, "meta_train": 1, "meta_shards_nl": 1,
      "meta_train_nl": 1, "metrics": 1, "plots": 1, "nl_plots": 1, "run_info": 1, "all": 1} | INVERSE),
    # MetaSFT-NL's mix: its data, adapter and answers only
    ({"nl": {"description_fraction": 0.25}},
     {"meta_shards_nl": 1, "meta_train_nl": 1, "predict_metasft_nl": 2, "score": 2, "metrics": 1, "plots": 1,
      "nl_plots": 1, "run_info": 1, "all": 1}),
    ({"metrics": {"bootstrap_resamples": 20}},
     {"metrics": 1, "plots": 1, "nl_plots": 1, "inverse": 1, "run_info": 1, "all": 1}),
    # the observed answers: the inverse likelihoods and table only
    ({"inverse": {"answers_per_question": 2}}, {**INVERSE, "all": 1}),
], ids=["temperature", "finetune_lr", "icl_k", "nl_mix", "bootstrap", "inverse_observed"])
def test_a_result_setting_reruns_exactly_what_it_affects(mini_run, tmp_path, settings, expected):
    result = snakemake(mini_run, "-n", *override(tmp_path, settings))
    assert job_counts(result.stdout + result.stderr) == expected


@pytest.mark.slow
def test_a_result_setting_reruns_on_the_cluster_too(mini_run, tmp_path):
    result = snakemake(mini_run, "-n", *override(tmp_path, {"generation": {"temperature": 0.5}}),
                       "--profile", "profiles/slurm")
    assert job_counts(result.stdout + result.stderr) == SAMPLING_CHANGED


@pytest.mark.slow
def test_real_calls_on_a_copy_run_only_what_changed(mini_run, tmp_path):
    """On a copy of the finished run (mtimes and metadata kept): a real call with a changed performance setting
    runs no job, and one with a changed result setting runs just its jobs and leaves the others' files alone."""
    workdir = tmp_path / "wf"
    shutil.copytree(mini_run, workdir, symlinks=True)
    results = workdir / "results" / "mini"
    untouched = {p: p.stat().st_mtime_ns for p in [results / "suite" / "suite.json", results / "base_model",
                                                   results / "finetune" / "part000"]}
    quiet = snakemake(workdir, "--cores", "2", *override(tmp_path, {"generation": {"batch_size": 5, "threads": 2}}))
    assert "Nothing to be done" in quiet.stdout + quiet.stderr
    changed = override(tmp_path, {"metrics": {"bootstrap_resamples": 20}})
    snakemake(workdir, "--cores", "2", *changed)
    assert {p: p.stat().st_mtime_ns for p in untouched} == untouched
    again = snakemake(workdir, "-n", *changed, "--profile", "profiles/slurm")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_generated_areas_do_not_rerun_the_suite(workflow_copy):
    """An advice suite with an area generated through the (fake) API: once generated and snapshot, nothing is
    planned, and the suite rule is not rerun just because the area's file now exists."""
    target = "results/mini_em/suite/suite.json"
    config = GENERATED_AREA_CONFIG
    with fake_anthropic_server() as fake:
        env = {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": DUMMY_KEY}
        first = run(workflow_copy, target, "--cores", "1", *config, env_extra=env)
        assert "rule generate_suite:" in first.stdout + first.stderr
    for profile in ([], ["--profile", "profiles/slurm"]):
        again = run(workflow_copy, target, "-n", *config, *profile)
        assert "Nothing to be done" in again.stdout + again.stderr, again.stdout + again.stderr


def job_processes(workdir) -> list[int]:
    """Pids of jobs a snakemake in `workdir` started (their scripts run from its .snakemake/scripts)."""
    from pathlib import Path

    scripts = f"{workdir}/.snakemake/scripts/"
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if scripts in proc.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                pids.append(int(proc.name))
        except OSError:  # ended while we looked
            pass
    return pids


@pytest.mark.slow
def test_after_kill_9_the_messages_and_recoveries_are_the_readmes(workflow_copy):
    """kill -9 of snakemake leaves its job running; the job finishes alone, and the next call meets the incomplete
    file, then the lock. docs/troubleshooting.md quotes both messages and give the recoveries tested here."""
    import signal
    import subprocess
    import sys
    import time

    readme = (ROOT / "docs" / "troubleshooting.md").read_text()
    process = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1", *MINI], cwd=workflow_copy,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not job_processes(workflow_copy) and time.time() < deadline:
        time.sleep(0.05)
    assert job_processes(workflow_copy), "no job started"
    process.send_signal(signal.SIGKILL)
    process.wait()
    while job_processes(workflow_copy) and time.time() < deadline + 300:  # the orphaned job runs on and finishes
        time.sleep(0.2)
    assert not job_processes(workflow_copy)

    incomplete = snakemake(workflow_copy, "--cores", "1", *MINI, check=False)
    text = incomplete.stdout + incomplete.stderr
    assert incomplete.returncode != 0
    assert "IncompleteFilesException:\nThe files below seem to be incomplete." in text
    assert "`IncompleteFilesException: The files below seem to be incomplete.`" in readme
    listed = [line for line in text.split("Incomplete files:")[1].splitlines() if line.startswith("results/")]
    assert listed and all((workflow_copy / path).exists() for path in listed)  # the job wrote them, atomically
    locked = snakemake(workflow_copy, "--cores", "1", "--rerun-incomplete", *MINI, check=False)
    assert locked.returncode != 0
    assert "LockException:\nError: Directory cannot be locked." in locked.stdout + locked.stderr
    assert "`LockException: Error: Directory cannot be locked.`" in readme
    snakemake(workflow_copy, "--unlock", *MINI)
    rerun = snakemake(workflow_copy, "-n", "--rerun-incomplete", *MINI)
    assert "Nothing to be done" not in rerun.stdout + rerun.stderr
