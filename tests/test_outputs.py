"""Damaged or missing outputs: model-folder manifests, checked readers, and the workflow noticing both."""

import json
import re
import shutil

import polars as pl
import pytest
from conftest import snakemake

from metasft.models.manifest import (
    MANIFEST,
    check_model,
    model_problems,
    write_manifest,
)
from metasft.pipeline.io import read_csv, read_json, read_parquet
from metasft.pipeline.outputs import OutputError, producer


def model_folder(root, relative="results/r/finetune/part000/drink"):
    folder = root / relative
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (folder / "adapter_model.safetensors").write_bytes(b"\x01" * 4096)
    (folder / "sub").mkdir()
    (folder / "sub" / "extra.bin").write_bytes(b"\x02" * 10)
    write_manifest(folder)
    return folder


def test_manifest_lists_every_file_with_size_and_hash(tmp_path):
    folder = model_folder(tmp_path)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert set(manifest["files"]) == {"adapter_config.json", "adapter_model.safetensors", "sub/extra.bin"}
    assert manifest["files"]["adapter_model.safetensors"]["size"] == 4096
    assert len(manifest["files"]["sub/extra.bin"]["sha256"]) == 64
    assert model_problems(folder) == [] and model_problems(folder, hashes=False) == []
    (folder / ".snakemake_timestamp").touch()  # snakemake's own marker in a directory output is not ours
    assert model_problems(folder) == []
    check_model(folder)


def test_each_kind_of_damage_is_named(tmp_path):
    folder = model_folder(tmp_path)
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(b"\x03" * 4096)  # same size, other content: only the hash tells
    assert model_problems(folder, hashes=False) == []
    assert model_problems(folder) == [f"{weights} does not match the sha256 in its manifest (the file was "
                                      "changed or damaged)"]
    weights.write_bytes(b"\x01" * 100)
    assert model_problems(folder, hashes=False) == [f"{weights} has 100 bytes, its manifest says 4096"]
    weights.unlink()
    assert model_problems(folder, hashes=False) == [f"{weights} is missing"]
    (folder / MANIFEST).unlink()
    [problem] = model_problems(folder)
    assert f"{folder} has no manifest.json" in problem and f"python -m metasft.models.manifest write {folder}" in problem
    shutil.rmtree(folder)
    assert model_problems(folder) == [f"{folder} is missing"]


def test_loading_a_missing_adapter_names_it_the_rule_and_the_command(tmp_path):
    """Before: peft took the missing folder for a hub id ('Repo id must be in the form ...')."""
    from metasft.models.loading import load_with_adapters

    folder = model_folder(tmp_path)
    (folder / "adapter_model.safetensors").unlink()
    chunk = tmp_path / "results/r/finetune/part000"
    with pytest.raises(OutputError) as error:  # fails before loading anything: the base need not exist
        load_with_adapters(tmp_path / "no-base", {"drink": folder, "pet": chunk / "pet"})
    message = str(error.value)
    assert f"{folder / 'adapter_model.safetensors'} is missing" in message
    assert "made by rule finetune" in message
    assert f"snakemake --forcerun {chunk.as_posix()}`" in message and f"or delete {chunk.as_posix()}" in message


def test_base_models_are_checked_when_they_are_pipeline_outputs(tmp_path):
    check_model("Qwen/Qwen3-4B-Base", required=False)  # a hub id: not ours, not checked
    foreign = tmp_path / "my_model"
    foreign.mkdir()
    (foreign / "manifest.json").write_text('{"something": "else"}')  # a model's own file of that name
    check_model(foreign, required=False)
    base = model_folder(tmp_path, "results/r/base_model")
    (base / "adapter_model.safetensors").write_bytes(b"\x01" * 4095)
    with pytest.raises(OutputError, match=r"made by rule pretrain_base; rebuild it .* `snakemake --forcerun "
                                          rf"{re.escape(base.as_posix())}`"):
        check_model(base, required=False)
    (base / MANIFEST).unlink()
    with pytest.raises(OutputError, match="has no manifest.json"):  # a results folder always needs one
        check_model(base, required=False)


def test_the_manifest_command_adopts_and_checks_folders(tmp_path, capsys):
    from metasft.models.manifest import main

    folder = model_folder(tmp_path)
    (folder / MANIFEST).unlink()
    with pytest.raises(SystemExit) as done:
        main(["check", str(folder)])
    assert done.value.code == 1
    with pytest.raises(SystemExit) as done:
        main(["write", str(folder)])
    assert done.value.code == 0 and model_problems(folder) == []


def truncated(path, frame):
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_a_truncated_parquet_is_named_with_its_rule_and_rebuild_command(tmp_path):
    """Before: polars' 'File out of specification' without the file's name."""
    path = truncated(tmp_path / "results/r/scores/golden/chunks/part001.parquet", pl.DataFrame({"a": range(100)}))
    with pytest.raises(OutputError) as error:
        read_parquet(path)
    message = str(error.value)
    assert message.startswith(f"{path}: cannot read this parquet file (ComputeError: parquet: File out of spec")
    assert f"made by rule score; rebuild it (and what depends on it) with `snakemake --forcerun {path}`" in message
    assert f"or delete {path} and run snakemake again" in message


@pytest.mark.parametrize("relative, rule", [
    ("results/r/metrics/metrics.csv", "metrics"),
    ("results/r/suite/suite.json", "suite"),
    ("results/r/answers/golden/drink/pet.parquet", "pair_result"),
])
def test_every_reader_names_the_file(tmp_path, relative, rule):
    path = tmp_path / relative
    path.parent.mkdir(parents=True)
    path.write_text('{"domains": ' if path.suffix == ".json" else 'a,b\n1,"x\n')
    reader = {".csv": read_csv, ".json": read_json, ".parquet": read_parquet}[path.suffix]
    with pytest.raises(OutputError, match=rf"^{re.escape(str(path))}: cannot read .* made by rule {rule}"):
        reader(path)


def test_the_cheap_table_checks_name_each_kind_of_damage(tmp_path):
    """What the workflow checks at DAG time over a whole run: a few bytes of each parquet, each small CSV and JSON."""
    from metasft.pipeline.outputs import damaged_tables, table_problem

    run = tmp_path / "results" / "r"
    scores = run / "scores" / "golden" / "chunks" / "part001.parquet"
    scores.parent.mkdir(parents=True)
    pl.DataFrame({"a": range(1000), "b": ["x"] * 1000}).write_parquet(scores)
    metrics = run / "metrics" / "metrics.csv"
    metrics.parent.mkdir(parents=True)
    pl.DataFrame({"method": ["GT", "Meta\nSFT"], "rmse": [1.5, 2.0]}).write_csv(metrics)  # a quoted newline
    info = run / "run_info.json"
    info.write_text('{"seed": 0}\n')
    assert [table_problem(p) for p in (scores, metrics, info)] == [None, None, None]
    assert damaged_tables(run) == {}

    whole = scores.read_bytes()
    scores.write_bytes(whole[:100])
    assert table_problem(scores) == ("not a complete parquet file (its first or last 4 bytes are not PAR1: "
                                     "truncated or overwritten)")
    scores.write_bytes(whole[:4] + whole[-8:])  # the frame of a file whose pages and footer were cut out
    assert table_problem(scores) == f"not a complete parquet file (its footer length " \
                                    f"{int.from_bytes(whole[-8:-4], 'little')} does not fit its 12 bytes)"
    scores.write_bytes(b"PAR1")
    assert table_problem(scores) == "4 bytes, too short for a parquet file"
    text = metrics.read_bytes()
    metrics.write_bytes(text[:-4])
    assert table_problem(metrics) == "its last line is cut off (no final newline)"
    metrics.write_bytes(text + b"GT\n")
    assert table_problem(metrics) == "line 4 has 1 fields, the header 2"
    metrics.write_bytes(b"")
    assert table_problem(metrics) == "empty (a CSV table has at least its header)"
    info.write_text('{"seed": ')
    assert table_problem(info).startswith("not valid JSON (Expecting value: line 1 column 10")

    # model folders have manifests of their own; a killed job's temporary and files the pipeline does not make
    # are not its tables
    adapter = model_folder(tmp_path, "results/r/meta/adapter")
    (adapter / "adapter_config.json").write_text("{")
    (run / "metrics" / ".metrics.csv.abc.tmp").mkdir()
    (run / "metrics" / ".metrics.csv.abc.tmp" / "metrics.csv").write_text("a,b\n1")
    (run / "notes").mkdir()
    (run / "notes" / "mine.json").write_text("{")
    assert damaged_tables(run) == {scores.as_posix(): "4 bytes, too short for a parquet file",
                                   metrics.as_posix(): "empty (a CSV table has at least its header)",
                                   info.as_posix(): table_problem(info)}


def test_the_producer_table_matches_the_workflow(workflow_copy):
    """io.producer knows the results layout; it must name the rule snakemake itself plans for each output."""
    result = snakemake(workflow_copy, "--summary", "--configfile", "tests/configs/mini.yaml")
    rows = [line.split("\t") for line in result.stdout.splitlines() if line.startswith("results/")]
    assert len(rows) > 20
    for output, _, rule, *_ in rows:
        assert producer(output) == (rule, output), output
    pair = "results/mini/scores/golden/drink/pet.parquet"
    assert producer(pair) == ("pair_result", pair)
    assert producer("results/mini/finetune/part000/drink/adapter_model.safetensors") == (
        "finetune", "results/mini/finetune/part000")


# The workflow on a finished mini run (copied: the session's mini_run stays intact for other tests).

MINI = ("--configfile", "tests/configs/mini.yaml")


def copy_run(mini_run, tmp_path):
    return shutil.copytree(mini_run, tmp_path / "run", symlinks=True)


def job_counts(output: str) -> dict[str, int]:
    block = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


@pytest.mark.slow
def test_every_model_folder_of_a_run_carries_an_intact_manifest(mini_run):
    results = mini_run / "results" / "mini"
    folders = [results / "base_model", results / "meta" / "adapter",
               *(results / "finetune").glob("part*/*/")]
    assert len(folders) == 2 + 4
    for folder in folders:
        assert (folder / MANIFEST).is_file() and model_problems(folder) == [], folder
    assert "model.safetensors" in json.loads((results / "base_model" / MANIFEST).read_text())["files"]


@pytest.mark.slow
@pytest.mark.parametrize("damaged, output, rule", [
    ("finetune/part000/drink/adapter_model.safetensors", "finetune/part000", "finetune"),
    ("finetune/part000/drink", "finetune/part000", "finetune"),
    ("base_model/model.safetensors", "base_model", "pretrain_base"),
])
def test_a_missing_model_file_stops_snakemake_naming_it_and_the_rebuild_command(mini_run, tmp_path, damaged,
                                                                               output, rule):
    """Before: 'Nothing to be done', and a job that loaded the adapter failed with 'Repo id must be in the form'."""
    run = copy_run(mini_run, tmp_path)
    path = run / "results" / "mini" / damaged
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    result = snakemake(run, "-n", *MINI, check=False)
    output_text = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"results/mini/{damaged} is missing" in output_text
    command = f"snakemake --forcerun results/mini/{output} --configfile "
    assert f"made by rule {rule}; rebuild it (and what depends on it) with `{command}" in output_text
    # the command it gives passes the check and plans the rebuild (and what depends on it)
    rebuild = snakemake(run, "-n", *MINI, "--forcerun", f"results/mini/{output}")
    assert job_counts(rebuild.stdout + rebuild.stderr)[rule] == 1


@pytest.mark.slow
def test_a_run_made_before_manifests_stops_until_rebuilt_or_adopted(mini_run, tmp_path):
    import subprocess
    import sys

    run = copy_run(mini_run, tmp_path)
    adapter = run / "results" / "mini" / "meta" / "adapter"
    (adapter / MANIFEST).unlink()
    result = snakemake(run, "-n", *MINI, check=False)
    output_text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "results/mini/meta/adapter has no manifest.json" in output_text
    assert "python -m metasft.models.manifest write results/mini/meta/adapter" in output_text
    assert "`snakemake --forcerun results/mini/meta/adapter --configfile" in output_text
    subprocess.run([sys.executable, "-m", "metasft.models.manifest", "write", "results/mini/meta/adapter"], cwd=run, check=True)
    again = snakemake(run, "-n", *MINI)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_a_damaged_adapter_stops_the_job_that_loads_it(mini_run, tmp_path):
    """Same size, other bytes: the stat check at DAG time passes, the loader's sha256 check stops the job."""
    run = copy_run(mini_run, tmp_path)
    weights = run / "results" / "mini" / "finetune" / "part000" / "drink" / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    target = "results/mini/answers/golden/chunks/part000.parquet"
    result = snakemake(run, "--cores", "1", *MINI, "--forcerun", target, target, check=False)
    assert result.returncode != 0
    log = (run / "logs" / "mini" / "golden" / "part000.log").read_text()
    assert ("results/mini/finetune/part000/drink/adapter_model.safetensors does not match the sha256 in its "
            "manifest") in log
    assert "`snakemake --forcerun results/mini/finetune/part000`" in log


@pytest.mark.slow
def test_a_truncated_table_stops_the_dry_run_naming_it_and_the_rebuild_command(mini_run, tmp_path):
    """Before: `snakemake -n` planned the jobs after the file without a word; the first of them failed on it."""
    run = copy_run(mini_run, tmp_path)
    path = "results/mini/scores/golden/chunks/part001.parquet"
    (run / path).write_bytes((run / path).read_bytes()[:100])
    result = snakemake(run, "-n", *MINI, check=False)
    output_text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "damaged result file (it exists, so snakemake alone would not rebuild it):" in output_text
    assert f"{path}: not a complete parquet file (its first or last 4 bytes are not PAR1" in output_text
    command = f"snakemake --forcerun {path} --configfile tests/configs/mini.yaml"
    assert f"made by rule score; rebuild it (and what depends on it) with `{command}`" in output_text
    # the command it gives passes the check and plans the rebuild of that file and what reads it
    rebuild = snakemake(run, "-n", *MINI, "--forcerun", path)
    assert job_counts(rebuild.stdout + rebuild.stderr)["score"] == 1
    (run / path).write_bytes((mini_run / path).read_bytes())
    metrics = run / "results" / "mini" / "metrics" / "metrics.csv"
    metrics.write_bytes(metrics.read_bytes()[:-10])
    result = snakemake(run, "-n", *MINI, check=False)
    assert "results/mini/metrics/metrics.csv: its last line is cut off (no final newline). It is made by rule " \
           "metrics" in result.stdout + result.stderr


@pytest.mark.slow
def test_a_truncated_table_stops_the_job_that_reads_it_naming_the_file(mini_run, tmp_path):
    """A target named on the command line skips the run-wide check; the job's checked reader still names the file.
    Before: polars' 'File out of specification' in the metrics log, without the file's name."""
    run = copy_run(mini_run, tmp_path)
    scores = run / "results" / "mini" / "scores" / "golden" / "chunks" / "part001.parquet"
    scores.write_bytes(scores.read_bytes()[:-100])
    target = "results/mini/baselines/predictions.parquet"  # the newer file reruns baselines, which reads it
    result = snakemake(run, "--cores", "1", target, *MINI, check=False)  # --configfile takes what follows it
    assert result.returncode != 0
    log = (run / "logs" / "mini" / "baselines.log").read_text()
    path = "results/mini/scores/golden/chunks/part001.parquet"
    assert f"{path}: cannot read this parquet file" in log
    assert f"made by rule score; rebuild it (and what depends on it) with `snakemake --forcerun {path}`" in log
