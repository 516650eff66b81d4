import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_ANTHROPIC = ROOT / "tests" / "no_anthropic"  # its sitecustomize.py makes `import anthropic` fail
# The runnable presets (config/presets/<group>/*.yaml; the layers they extend live in layers/ folders), and the
# embedded default.
PRESETS = ["config/config.yaml", *sorted(path.relative_to(ROOT).as_posix()
                                        for path in (ROOT / "config" / "presets").rglob("*.yaml")
                                        if "layers" not in path.parts)]
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


def snakemake(workdir: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True, text=True,
                            env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def random_trivia_base(folder: Path, domains: list[str], max_position_embeddings: int = 256):
    """The trivia suite's `domains` and a random-init tiny Qwen3 (2 layers, 64 wide) with the project's tokenizer
    trained on their train pairs, saved under `folder/base` (a few seconds): (suite, base folder)."""
    import torch

    from metasft.models.random import build_random_model, project_tokenizer
    from metasft.suites.load import load_suite

    torch.set_num_threads(2)
    suite = load_suite(ROOT / "resources/suites/trivia").subset(domains)
    tokenizer = project_tokenizer([t for d in suite.domains.values() for pair in d.train for t in pair], vocab_size=512)
    base = build_random_model(folder / "base", tokenizer, {"hidden_size": 64, "num_hidden_layers": 2,
                                                           "intermediate_size": 128, "num_attention_heads": 4,
                                                           "num_key_value_heads": 2,
                                                           "max_position_embeddings": max_position_embeddings})
    return suite, base


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    return copy_workflow(tmp_path / "wf")


@pytest.fixture(scope="session")
def mini_run(tmp_path_factory) -> Path:
    """The whole pipeline on the 4-domain mini config, run once per test session. A trivia run never imports the
    anthropic SDK: in this one (snakemake and every job) any import of it fails."""
    workdir = copy_workflow(tmp_path_factory.mktemp("mini") / "wf")
    env = without_anthropic()
    probe = subprocess.run([sys.executable, "-c", "import anthropic"], env=env, capture_output=True, text=True)
    assert "must not import the anthropic SDK" in probe.stderr, f"the guard {NO_ANTHROPIC} is not active"
    snakemake(workdir, "--cores", "2", "--configfile", "tests/configs/mini.yaml", env=env)
    return workdir


def without_anthropic() -> dict:
    """This process's environment with the no-anthropic guard first on PYTHONPATH (other entries kept)."""
    path = os.pathsep.join(p for p in (str(NO_ANTHROPIC), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}
