import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ["Snakefile", "rules", "envs", "profiles", "tests/slurm", "workflow", "config", "resources", "report", "tests/data", "tests/configs"]


def copy_workflow(target: Path) -> Path:
    """A copy of the workflow (not results) to run in isolation."""
    for part in WORKFLOW_PARTS:
        source = ROOT / part
        destination = target / part
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, destination)
    return target


def default_settings(cls, where: str, **overrides):
    """Settings `cls` as a config naming only `overrides` (a nested section as a dict) would give them: the
    schema's defaults of config section `where` (e.g. "tiny.world") with `overrides` merged over them."""
    from metasft.pipeline.config import merge, schema_defaults, settings_from

    section = schema_defaults()
    for key in where.split("."):
        section = section[key]
    return settings_from(cls, merge(section, overrides), where)


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    return copy_workflow(tmp_path / "wf")


@pytest.fixture(scope="session")
def mini_run(tmp_path_factory) -> Path:
    """The whole pipeline on the 4-domain mini config, run once per test session."""
    workdir = copy_workflow(tmp_path_factory.mktemp("mini") / "wf")
    snakemake(workdir, "--cores", "2", "--configfile", "tests/configs/mini.yaml")
    return workdir
