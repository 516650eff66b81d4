"""What the workflow prints when it ends: the headline results of a finished run (Snakemake `onsuccess`), and
for a failed run the failed jobs, their log files and the first line of each error (`onerror`)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import polars as pl

from metasft.sources import METHODS
from metasft.suites.domains import QUADRANTS

# metasft.analysis.metrics is imported where used: the workflow imports this module on every snakemake call, dry
# runs included, and metrics pulls in scipy (about a second).

SUMMARY_TITLE = "Meta-SFT run finished"
FAILURE_TITLE = "Meta-SFT run failed"


def _interval(value, low, high) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return f"{value:.1f}"
    return f"{value:.1f} [{low:.1f}, {high:.1f}]"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]


def rmse_table(metrics: pl.DataFrame) -> list[str]:
    """RMSE with its CI, one row per method, one column per quadrant (as in the headline figure)."""

    quadrants = [q for q in QUADRANTS if q in set(metrics["quadrant"])]
    methods = [m for m in METHODS if m in set(metrics["method"])]
    cells = {(r["method"], r["quadrant"]): _interval(r["rmse"], r["rmse_lo"], r["rmse_hi"])
             for r in metrics.iter_rows(named=True)}
    return _table([["method", *quadrants]] + [[m, *(cells.get((m, q), "-") for q in quadrants)] for m in methods])


def _difference(row) -> str:
    if row["rmse_diff"] is None or math.isnan(row["rmse_diff"]):
        return "n/a"
    if row["diff_lo"] is None or math.isnan(row["diff_lo"]):
        return f"{row['rmse_diff']:+.1f}"
    return f"{row['rmse_diff']:+.1f} [{row['diff_lo']:+.1f}, {row['diff_hi']:+.1f}]" + (
        "*" if row["ci_excludes_zero"] else "")


def primary_result(comparisons: pl.DataFrame, confidence: float = 0.95) -> list[str]:
    """The primary comparison (config metrics.primary) in one line, then its cells: the difference with the
    simultaneous CI and the Holm-adjusted p-value. Nothing for a table without a primary family."""
    from metasft.analysis.resampling import UNIT_WORD

    if comparisons.is_empty() or "family" not in comparisons.columns:
        return []
    primary = comparisons.filter(pl.col("family") == "primary")
    if primary.is_empty():
        return []
    method, baseline = primary["method"][0], primary["baseline"][0]
    better = primary.filter(pl.col("holm_rejects") & (pl.col("rmse_diff") < 0)).height
    worse = primary.filter(pl.col("holm_rejects") & (pl.col("rmse_diff") > 0)).height
    unit = UNIT_WORD.get(primary["resample"][0], primary["resample"][0])
    replicates = int(primary["replicates"][0]) if "replicates" in primary.columns else 1
    line = (f"Primary result: {method} better than {baseline} in {better} of {primary.height} evaluation quadrants"
            + (f", worse in {worse}" if worse else "")
            + f" (Holm-adjusted p < {1 - confidence:g}; {unit}-level bootstrap; "
            f"{replicates} replicate{'s' if replicates != 1 else ''})")
    cells = [f"{r['quadrant']} {r['rmse_diff']:+.1f} [{r['diff_lo_simultaneous']:+.1f}, "
             f"{r['diff_hi_simultaneous']:+.1f}] p_holm {r['p_holm']:.3f}" for r in primary.iter_rows(named=True)
             if r["rmse_diff"] is not None and not math.isnan(r["rmse_diff"])]
    return [line] + ([f"  RMSE difference, simultaneous {confidence:.0%} CI: " + "; ".join(cells)] if cells else [])


def comparison_table(comparisons: pl.DataFrame) -> list[str]:
    """Each compared method's RMSE minus its baseline's (MetaSFT against every method first), with the paired CI;
    '*' where the CI excludes zero. Every cell is read on its own: exploratory, beside the primary result."""
    from metasft.analysis.comparisons import comparison_order

    if comparisons.is_empty():
        return []
    quadrants = [q for q in QUADRANTS if q in set(comparisons["quadrant"])]
    compared = comparison_order(comparisons)
    cells = {(r["method"], r["baseline"], r["quadrant"]): _difference(r) for r in comparisons.iter_rows(named=True)}
    return ["Exploratory: RMSE of method minus baseline, each cell on its own (negative: the method is closer to the "
            "golden labels; nominal CI, * it excludes 0):"] + _table(
        [["method - baseline", *quadrants]]
        + [[f"{m} - {b}", *(cells.get((m, b, q), "-") for q in quadrants)] for m, b in compared])


def inverse_summary(inverse: pl.DataFrame) -> list[str]:
    """Inverse prediction: top-1 accuracy [CI] per method and quadrant, and chance (inverse.csv has top-5 and MRR)."""
    from metasft.analysis.inverse import INVERSE_METHODS

    if inverse.is_empty():
        return []
    quadrants = [q for q in QUADRANTS if q in set(inverse["quadrant"])]
    cells = {(r["method"], r["quadrant"]): _interval(*(None if v is None else 100 * v
                                                       for v in (r["top1"], r["top1_lo"], r["top1_hi"])))
             for r in inverse.iter_rows(named=True)}
    chance = {r["quadrant"]: f"{100 * r['chance_top1']:.1f}" for r in inverse.iter_rows(named=True)}
    methods = [m for m in INVERSE_METHODS if m in set(inverse["method"])]
    return ["Inverse prediction, top-1 accuracy (%) of the true train domain among its half's candidates, [95% CI]:"] \
        + _table([["method", *quadrants]] + [[m, *(cells.get((m, q), "-") for q in quadrants)] for m in methods]
                 + [["chance", *(chance[q] for q in quadrants)]])


def selection_summary(summary: pl.DataFrame) -> list[str]:
    """The selection replay (learning_curve_summary.csv), all evaluation quadrants at once: per policy, the area
    under its curve against random's on the same seeds, and the fine-tunes it needed to stay within the full run's CI."""
    rows = summary.filter(pl.col("quadrant") == "all")
    if rows.is_empty():
        return []
    lines = ["Selection replayed (metrics/learning_curve_summary.csv; mean RMSE over each curve, the three evaluation "
             "quadrants):"]
    table = [["policy", "seeds", "mean RMSE", "minus random [95% CI over seeds]", "seeds below random",
              "fine-tunes to the full run (median; seeds that got there)"]]
    for r in rows.iter_rows(named=True):
        low, high = r["auc_minus_random_low"], r["auc_minus_random_high"]
        versus = "(the control)" if r["policy"] == "random" else f"{r['auc_minus_random']:+.2f}" + (
            "" if low is None or math.isnan(low) else f" [{low:+.2f}, {high:+.2f}]")
        reach = "never" if r["seeds_reaching_full"] == 0 else \
            f"{r['fine_tunes_to_full_median']:.0f} ({r['seeds_reaching_full']} of {r['seeds']})"
        name = r["policy"] + (" (sees hidden labels)" if r["sees_hidden_labels"] else "")
        table.append([name, str(r["seeds"]), f"{r['auc_mean']:.2f}", versus,
                      "" if r["policy"] == "random" else f"{r['seeds_below_random']} of {r['seeds']}", reach])
    lines += _table(table)
    if "untrained_within_full" in rows.columns and rows["untrained_within_full"].any():  # older tables lack it
        lines.append("UntrainedICL, with no fine-tune, is already within the full run's CI in every evaluation "
                     "quadrant: reaching the full run's MetaSFT takes no fine-tune here, so the fine-tunes a policy "
                     "needed to reach it say nothing about the policy.")
    return lines


def live_selection_summary(rounds: pl.DataFrame, path) -> list[str]:
    """A live selection's rounds: the meta-train domains each fine-tuned, of how many candidates."""
    chosen = rounds.filter(pl.col("chosen"))
    candidates = rounds["domain"].n_unique()
    per_round = "; ".join(f"round {r}: {', '.join(part['domain'].to_list())}"
                          for (r,), part in chosen.group_by("round", maintain_order=True))
    return [f"Selection (live): {chosen.height} meta-train domains fine-tuned in {chosen['round'].n_unique()} rounds, "
            f"of the {candidates} seen as candidates ({per_round}); scores per round: {path}"]


def warnings_of(metrics: pl.DataFrame) -> list[str]:
    """Unscored answers (per method, the range over quadrants) and pairs dropped from a quadrant's metrics."""

    lines = []
    for column in [c for c in metrics.columns if c.endswith("unscored_rate")]:
        parts = []
        for method in [m for m in METHODS if m in set(metrics["method"])]:
            rates = metrics.filter((pl.col("method") == method) & pl.col(column).is_not_null())[column]
            if rates.len() and rates.max() > 0:
                low, high = 100 * rates.min(), 100 * rates.max()
                parts.append(f"{method} {low:.1f}%" if round(low, 1) == round(high, 1)
                             else f"{method} {low:.1f}-{high:.1f}%")
        if parts:
            judged = "judge_unscored_rate" in metrics.columns
            what = "judge verdicts that could not be parsed" if column == "judge_unscored_rate" else (
                "answers the judge did not score (left out of the propensities; rmse_unscored_as_0 counts them as 0)"
                if judged else "answers naming no option or several (counted as not choosing the designated option)")
            lines.append(f"{column} > 0, {what}: " + ", ".join(parts))
    for row in metrics.filter(pl.col("method") == metrics["method"][0]).iter_rows(named=True):
        if row["n_pairs_dropped"]:
            missing = metrics.filter((pl.col("quadrant") == row["quadrant"]) & (pl.col("n_pairs_missing") > 0))
            by = ", ".join(f"{r['method']} {r['n_pairs_missing']}" for r in missing.iter_rows(named=True))
            lines.append(f"{row['quadrant']}: {row['n_pairs_dropped']} of {row['n_pairs'] + row['n_pairs_dropped']} "
                         f"pairs dropped from every method's metrics (no scored answer: {by or 'see metrics.csv'})")
    return lines


def run_summary(results, configfiles=()) -> str | None:
    """The text printed after a successful run: headline RMSE table, method comparisons, warnings, and where
    the metrics, figures and report are. None when the run has no metrics (yet)."""
    results = Path(results)
    metrics_csv = results / "metrics" / "metrics.csv"
    if not metrics_csv.is_file():
        return None
    from metasft.analysis.resampling import UNIT_WORD

    metrics = pl.read_csv(metrics_csv)
    unit = UNIT_WORD.get(metrics["resample"][0], "") if "resample" in metrics.columns and metrics.height else "pair"
    lines = [f"{SUMMARY_TITLE}: {results}", "RMSE of predicted vs golden propensity (0-100 points) per method and "
             f"quadrant, [95% {unit}-level bootstrap CI]:"]
    lines += rmse_table(metrics)
    comparisons_csv = results / "metrics" / "comparisons.csv"
    if comparisons_csv.is_file():
        comparisons = pl.read_csv(comparisons_csv)
        lines += primary_result(comparisons) + comparison_table(comparisons)
    combined_csv = results / "replicates" / "comparisons.csv"
    if combined_csv.is_file():  # config replicates: the same claim over every replicate
        lines += [f"Over every replicate ({combined_csv}; the run itself is replicate 0):"]
        lines += primary_result(pl.read_csv(combined_csv))
    inverse_csv = results / "metrics" / "inverse.csv"
    if inverse_csv.is_file():
        lines += inverse_summary(pl.read_csv(inverse_csv))
    rounds_csv = results / "selection" / "rounds.csv"
    if rounds_csv.is_file():  # a live selection: what it fine-tuned of the meta-train half
        lines += live_selection_summary(pl.read_csv(rounds_csv), rounds_csv)
    learning_csv = results / "metrics" / "learning_curve_summary.csv"
    if learning_csv.is_file():
        lines += selection_summary(pl.read_csv(learning_csv))
    warnings = warnings_of(metrics)
    lines += ["Warnings:", *(f"  {w}" for w in warnings)] if warnings else ["Warnings: none"]
    figures = sorted(p.name for p in (results / "plots").glob("*.png"))
    report = " ".join(["snakemake --report report.html", *(f"--configfile {c}" for c in configfiles)])
    lines += [
        f"Metrics: {metrics_csv} (per method x quadrant: RMSE, Pearson, Spearman, CIs, answer rates), "
        f"{results / 'metrics' / 'comparisons.csv'}, {results / 'metrics' / 'generalization.json'}"
        + (f", {inverse_csv} (top-1, top-5, MRR, chance)" if inverse_csv.is_file() else ""),
        f"Figures: {results / 'plots'}/ ({', '.join(figures) or 'none yet'})",
        f"Report: {report}",
    ]
    return "\n".join(lines)


# A failed job in Snakemake's log: "Error in rule NAME:" and its indented fields (message, jobid, output, log,
# ...); a multi-line message continues on unindented lines.
_ERROR_HEADER = re.compile(r"^Error in rule (\S+?):\s*$")
_FIELD = re.compile(r"^[ \t]+(\w+): ?(.*)$")


def failed_jobs(snakemake_log: str) -> list[dict]:
    """The failed jobs a Snakemake log names: rule, job id, output, wildcards, message, log files (once each)."""
    jobs, seen, lines = [], set(), snakemake_log.splitlines()
    for i, line in enumerate(lines):
        header = _ERROR_HEADER.match(line)
        if not header:
            continue
        fields, last = {}, None
        for following in lines[i + 1:]:
            field = _FIELD.match(following)
            if field:
                last = field.group(1)
                fields.setdefault(last, field.group(2).strip())
            elif last == "message" and following.strip():
                fields["message"] += " " + following.strip()
            else:
                break
        logs = fields.get("log", "").split(" (check log file(s)")[0]
        job = {"rule": header.group(1), "jobid": fields.get("jobid"), "output": fields.get("output", ""),
               "wildcards": fields.get("wildcards", ""), "message": fields.get("message", ""),
               "logs": [p.strip() for p in logs.split(",") if p.strip()]}
        key = (job["rule"], job["jobid"], job["output"])
        if key not in seen:
            seen.add(key)
            jobs.append(job)
    return jobs


_ERROR_LINE = re.compile(r"\b(error|exception|fatal|killed|out of memory|oom)\b|Error\b|Exception\b", re.I)


def first_error_line(job_log: str) -> str | None:
    """The line that says what went wrong: the exception of the log's last Python traceback (its first line,
    the latest attempt's when a retry appended to the log), else the last line that mentions an error."""
    lines = job_log.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last):")]
    if starts:
        for line in lines[starts[-1] + 1:]:
            if line.strip() and not line.startswith((" ", "\t")):
                return line.strip()
    for line in reversed(lines):
        if _ERROR_LINE.search(line):
            return line.strip()
    return None


def failure_summary(snakemake_logs, workdir=".", max_jobs: int = 10) -> str | None:
    """The text printed when a run fails: per failed job (the first `max_jobs`) its rule, output, log files, and
    the first line of its error from the job's own log. None when the Snakemake log names no failed job."""
    text = "".join(Path(p).read_text(errors="replace") for p in snakemake_logs if Path(p).is_file())
    jobs = failed_jobs(text)
    if not jobs:
        return None
    lines = [f"{FAILURE_TITLE}: {len(jobs)} job{'s' if len(jobs) > 1 else ''} failed"]
    for job in jobs[:max_jobs]:
        where = job["wildcards"] or job["output"]
        lines.append(f"  rule {job['rule']}{f' ({where})' if where else ''}: "
                     f"log {', '.join(job['logs']) or '(none)'}")
        error = None
        for log in job["logs"]:
            path = Path(workdir) / log
            if path.is_file():
                error = first_error_line(path.read_text(errors="replace"))
                if error:
                    break
        if not error and job["message"] not in ("", "None"):
            error = job["message"]
        lines.append(f"    {error or 'no error line in its log; see the Snakemake output above'}")
    if len(jobs) > max_jobs:
        lines.append(f"  ... and {len(jobs) - max_jobs} more (every one is an 'Error in rule' block of the "
                     "Snakemake log)")
    return "\n".join(lines)
