"""The registry of sources and methods (metasft.sources) is where a method lives: the workflow's sampling rules, the
methods compared, their comparisons, colours, resources and output layout are read off it."""

import subprocess
import sys

from conftest import ROOT

from metasft.analysis.inverse import IN_SAMPLE, INVERSE_METHODS
from metasft.analysis.plots import NL_FIGURE_METHODS
from metasft.pipeline.outputs import producer
from metasft.pipeline.resources import DEFAULT_MINUTES_PER_UNIT, GPU_RULES
from metasft.sources import (BY_NAME, COLOURS, FORMER_NAMES, METHODS, NL_SOURCES, OWN_COMPARISONS, SAMPLED,
                             SAMPLING_RULES, sampled_sources)


def test_what_the_package_derives_from_the_registry():
    assert METHODS == ("GT", "GT-EvalOnly", "GT-TrainOnly", "UntrainedICL", "MetaSFT", "UntrainedNL", "MetaSFT-to-NL",
                       "MetaSFT-NL")
    assert SAMPLING_RULES == ("golden", "predict_icl", "predict_metasft", "predict_nl", "predict_metasft_to_nl",
                              "predict_metasft_nl")
    assert sampled_sources(nl=False) == ["golden", "UntrainedICL", "MetaSFT"]
    assert NL_SOURCES == ("UntrainedNL", "MetaSFT-to-NL", "MetaSFT-NL")
    assert OWN_COMPARISONS == (("UntrainedNL", "UntrainedICL"), ("MetaSFT-to-NL", "UntrainedNL"),
                               ("MetaSFT-NL", "UntrainedNL"), ("MetaSFT-NL", "MetaSFT-to-NL"))
    assert NL_FIGURE_METHODS == ("UntrainedICL", "UntrainedNL", "MetaSFT", "MetaSFT-to-NL", "MetaSFT-NL")
    assert INVERSE_METHODS[:-1] == ("UntrainedICL", "MetaSFT", "UntrainedNL", "MetaSFT-to-NL", "MetaSFT-NL")
    assert IN_SAMPLE == {"MetaSFT", "MetaSFT-to-NL", "MetaSFT-NL"}  # a meta-model trained on train_train's labels
    assert {m: DEFAULT_MINUTES_PER_UNIT[BY_NAME[m].rule] for m in ("golden", "UntrainedICL", "MetaSFT-NL")} == {
        "golden": 0.02, "UntrainedICL": 0.04, "MetaSFT-NL": 0.025}
    assert set(SAMPLING_RULES) < set(GPU_RULES)
    assert set(COLOURS) >= set(METHODS) and len(set(COLOURS.values())) == len(COLOURS)
    for source in SAMPLED:
        path = f"results/r/answers/{source.name}/chunks/part000.parquet"
        assert producer(path) == (source.rule, path)
        assert all(b in METHODS for b in source.compared_with)


def test_the_workflow_has_one_sampling_rule_per_sampled_source():
    listed = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    assert set(SAMPLING_RULES) <= set(listed)
    assert not {r for r in listed if r.startswith("predict_")} - set(SAMPLING_RULES)


def test_one_spelling_per_method():
    """The study's "MetaSFT->NL" is MetaSFT-to-NL everywhere: only the registry's note of former names holds it."""
    files = [ROOT / "Snakefile", *(p for folder in ("src", "rules", "workflow", "config", "profiles")
                                   for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".smk", ".yaml"))]
    found = [p.relative_to(ROOT).as_posix() for p in files if "MetaSFT->NL" in p.read_text()]
    assert found == ["src/metasft/sources.py"] and "MetaSFT->NL" in FORMER_NAMES
