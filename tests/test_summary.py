"""What a run prints when it ends: the results summary (onsuccess) and the failed jobs (onerror)."""

import re
import shutil
import subprocess
import sys

import polars as pl
from conftest import ROOT

from metasft.runs.summary import (
    FAILURE_TITLE,
    SUMMARY_TITLE,
    failed_jobs,
    failure_summary,
    first_error_line,
    run_summary,
)

FAILED_RUN = ROOT / "tests" / "data" / "failed_run"  # real Snakemake 9 logs of failed runs


def test_failed_jobs_are_read_from_a_real_snakemake_log():
    # a --keep-going mini run whose two finetune jobs failed (config testing.fail_once: [finetune])
    jobs = failed_jobs((FAILED_RUN / "keep_going.snakemake.log").read_text())
    assert [(j["rule"], j["output"], j["logs"]) for j in jobs] == [
        ("finetune", "results/mini/finetune/part001", ["logs/mini/finetune/part001.log"]),
        ("finetune", "results/mini/finetune/part000", ["logs/mini/finetune/part000.log"]),
    ]
    # a SLURM submission failure: the message runs over an unindented line; the log field still belongs to it
    [job] = failed_jobs((FAILED_RUN / "slurm_submission.snakemake.log").read_text())
    assert job["rule"] == "suite" and job["logs"] == ["logs/default/suite.log"]
    assert job["message"].startswith("Job submission failed with exception: Failed to run sinfo")
    assert job["message"].endswith("the log files of the involved rule(s).")


def test_failure_summary_names_job_log_and_first_error_line(tmp_path):
    shutil.copytree(FAILED_RUN / "finetune_logs", tmp_path / "logs" / "mini" / "finetune")
    text = failure_summary([FAILED_RUN / "keep_going.snakemake.log"], tmp_path)
    assert text.splitlines() == [
        f"{FAILURE_TITLE}: 2 jobs failed",
        "  rule finetune (results/mini/finetune/part001): log logs/mini/finetune/part001.log",
        "    metasft.pipeline.jobs.InjectedFault: injected failure of rule finetune (first attempt; config "
        "testing.fail_once)",
        "  rule finetune (results/mini/finetune/part000): log logs/mini/finetune/part000.log",
        "    metasft.pipeline.jobs.InjectedFault: injected failure of rule finetune (first attempt; config "
        "testing.fail_once)",
    ]
    # no job log written (the job was never submitted): Snakemake's own message stands in
    text = failure_summary([FAILED_RUN / "slurm_submission.snakemake.log"], tmp_path)
    assert "rule suite (results/default/suite/suite.json): log logs/default/suite.log" in text
    assert "    Job submission failed with exception: Failed to run sinfo" in text
    assert failure_summary([tmp_path / "missing.log"], tmp_path) is None
    capped = failure_summary([FAILED_RUN / "keep_going.snakemake.log"], tmp_path, max_jobs=1).splitlines()
    assert len(capped) == 4 and capped[-1].startswith("  ... and 1 more")


def test_first_error_line_of_job_logs(tmp_path):
    # a real job log: progress lines, then a chained traceback; the error is the last exception's first line
    script = ("import logging, sys\n"
              "logging.basicConfig(stream=sys.stderr, level=logging.INFO)\n"
              "logging.info('step 10: loss 2.3 (no error so far)')\n"
              "try:\n    {}['hidden_size']\n"
              "except KeyError as error:\n"
              "    raise ValueError('config.json of /models/x lacks hidden_size\\nsecond line') from error\n")
    log = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).stderr
    assert "KeyError" in log and "The above exception was the direct cause" in log
    assert first_error_line(log) == "ValueError: config.json of /models/x lacks hidden_size"
    # a retry appends to the same log: the latest attempt's error
    retried = log + log.replace("ValueError: config.json", "RuntimeError: CUDA out of memory; config.json")
    assert first_error_line(retried).startswith("RuntimeError: CUDA out of memory")
    # no Python traceback (killed by the system): the last line that says so
    assert first_error_line("INFO loading\nslurmstepd: error: Detected 1 oom_kill event\nbye\n") == \
        "slurmstepd: error: Detected 1 oom_kill event"
    assert first_error_line("INFO all fine\n") is None


def metrics_rows(dropped: int = 0, unscored: float = 0.0) -> pl.DataFrame:
    rows = []
    for method, base in [("GT", 10.0), ("GT-EvalOnly", 20.0), ("GT-TrainOnly", 21.0), ("UntrainedICL", 14.0),
                         ("MetaSFT", 12.0)]:
        for k, quadrant in enumerate(["train_train", "train_eval", "eval_train", "eval_eval"]):
            rows.append({"method": method, "quadrant": quadrant, "rmse": base + k, "rmse_lo": base + k - 1.5,
                         "rmse_hi": base + k + 1.25, "n_pairs": 9 - dropped, "n_pairs_dropped": dropped,
                         "n_pairs_missing": dropped if method == "MetaSFT" else 0,
                         "unscored_rate": unscored * (k + 1) if method == "MetaSFT" else 0.0})
    return pl.DataFrame(rows)


def test_run_summary_tables_warnings_and_paths(tmp_path):
    results = tmp_path / "results" / "demo"
    assert run_summary(results) is None  # nothing to summarize yet
    (results / "metrics").mkdir(parents=True)
    (results / "plots").mkdir()
    (results / "plots" / "rmse_by_quadrant.png").write_bytes(b"png")
    metrics_rows().write_csv(results / "metrics" / "metrics.csv")
    pl.DataFrame({"quadrant": ["eval_eval"] * 3, "method": ["MetaSFT-NL", "MetaSFT", "MetaSFT"],
                  "baseline": ["UntrainedNL", "GT", "UntrainedICL"], "rmse_diff": [-1.5, 2.0, -2.0],
                  "diff_lo": [-2.5, 0.5, -3.5], "diff_hi": [-0.5, 3.5, 0.25],
                  "ci_excludes_zero": [True, True, False]}).write_csv(
        results / "metrics" / "comparisons.csv")
    lines = run_summary(results, ["tests/configs/mini.yaml"]).splitlines()
    assert lines[0] == f"{SUMMARY_TITLE}: {results}"
    header = next(i for i, line in enumerate(lines) if line.split() == ["method", "train_train", "train_eval",
                                                                        "eval_train", "eval_eval"])
    assert lines[header + 1].split() == ["GT", "10.0", "[8.5,", "11.2]", "11.0", "[9.5,", "12.2]", "12.0",
                                         "[10.5,", "13.2]", "13.0", "[11.5,", "14.2]"]
    assert lines[header + 5].startswith("  MetaSFT       12.0 [10.5, 13.2]")
    compared = next(i for i, line in enumerate(lines) if line.split() == ["method", "-", "baseline", "eval_eval"])
    # MetaSFT's comparisons first, then the others
    assert [line.split() for line in lines[compared + 1:compared + 4]] == [
        ["MetaSFT", "-", "GT", "+2.0", "[+0.5,", "+3.5]*"], ["MetaSFT", "-", "UntrainedICL", "-2.0", "[-3.5,", "+0.2]"],
        ["MetaSFT-NL", "-", "UntrainedNL", "-1.5", "[-2.5,", "-0.5]*"]]
    assert "Warnings: none" in lines
    assert f"Figures: {results / 'plots'}/ (rmse_by_quadrant.png)" in lines
    assert "Report: snakemake --report report.html --configfile tests/configs/mini.yaml" in lines
    assert any(line.startswith(f"Metrics: {results / 'metrics' / 'metrics.csv'}") for line in lines)

    metrics_rows(dropped=2, unscored=0.05).write_csv(results / "metrics" / "metrics.csv")
    text = run_summary(results)
    assert "unscored_rate > 0, answers naming no option or several (counted as not choosing the designated " \
           "option): MetaSFT 5.0-20.0%" in text
    assert "eval_eval: 2 of 9 pairs dropped from every method's metrics (no scored answer: MetaSFT 2)" in text


def test_what_the_workflow_imports_at_dag_time_leaves_scipy_and_torch_out():
    """Every snakemake call, dry runs included, imports the modules rules/common.smk names: scipy (about a second)
    and torch (several) are for jobs, not for planning the DAG."""
    modules = sorted(set(re.findall(r"^from (metasft[\w.]+) import", (ROOT / "rules" / "common.smk").read_text(),
                                    re.M)))
    assert "metasft.runs.summary" in modules and "metasft.suites.load" in modules
    code = f"import sys; import {', '.join(modules)}; print(sorted({{'scipy', 'torch'}} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""})
    assert done.stdout.strip() == "[]"


def test_the_summary_reports_the_selection_replay_against_random():
    from metasft.runs.summary import selection_summary

    summary = pl.DataFrame([
        {"policy": "random", "quadrant": "all", "seeds": 5, "auc_mean": 14.2, "auc_minus_random": 0.0,
         "auc_minus_random_low": 0.0, "auc_minus_random_high": 0.0, "seeds_below_random": 0,
         "fine_tunes_to_full_median": 40.0, "seeds_reaching_full": 3, "sees_hidden_labels": False},
        {"policy": "surprise", "quadrant": "all", "seeds": 5, "auc_mean": 13.9, "auc_minus_random": -0.31,
         "auc_minus_random_low": -0.52, "auc_minus_random_high": -0.1, "seeds_below_random": 5,
         "fine_tunes_to_full_median": 20.0, "seeds_reaching_full": 5, "sees_hidden_labels": False},
        {"policy": "oracle", "quadrant": "all", "seeds": 5, "auc_mean": 14.5, "auc_minus_random": 0.3,
         "auc_minus_random_low": float("nan"), "auc_minus_random_high": float("nan"), "seeds_below_random": 1,
         "fine_tunes_to_full_median": float("nan"), "seeds_reaching_full": 0, "sees_hidden_labels": True},
        {"policy": "surprise", "quadrant": "eval_eval", "seeds": 5, "auc_mean": 99.0, "auc_minus_random": 9.0,
         "auc_minus_random_low": 8.0, "auc_minus_random_high": 10.0, "seeds_below_random": 0,
         "fine_tunes_to_full_median": 40.0, "seeds_reaching_full": 1, "sees_hidden_labels": False},
    ])
    text = "\n".join(selection_summary(summary))
    lines = text.splitlines()
    assert lines[0].startswith("Selection replayed") and len(lines) == 5  # title, header, the three "all" rows
    flagged = selection_summary(summary.with_columns(untrained_within_full=pl.col("policy") != "oracle"))
    assert len(flagged) == 6 and "UntrainedICL, with no fine-tune, is already within" in flagged[-1]
    assert len(selection_summary(summary.with_columns(untrained_within_full=pl.lit(False)))) == 5
    random_row, surprise_row, oracle_row = lines[2:]
    assert "(the control)" in random_row and "40 (3 of 5)" in random_row
    assert "13.90" in surprise_row and "-0.31 [-0.52, -0.10]" in surprise_row and "5 of 5" in surprise_row
    assert "20 (5 of 5)" in surprise_row
    assert oracle_row.lstrip().startswith("oracle (sees hidden labels)") and "+0.30" in oracle_row
    assert "never" in oracle_row and "99.0" not in text


def test_the_summary_names_what_a_live_selection_fine_tuned():
    from metasft.runs.summary import live_selection_summary

    rounds = pl.DataFrame({"round": [0, 0, 1, 1, 1, 2, 2], "domain": ["a", "b", "c", "d", "e", "c", "e"],
                           "chosen": [True, True, False, True, False, True, False],
                           "score": [None, None, 1.0, 3.0, 2.0, 5.0, 4.0]})
    (line,) = live_selection_summary(rounds, "results/x/selection/rounds.csv")
    assert line == ("Selection (live): 4 meta-train domains fine-tuned in 3 rounds, of the 5 seen as candidates "
                    "(round 0: a, b; round 1: d; round 2: c); scores per round: results/x/selection/rounds.csv")
