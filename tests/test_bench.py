from metasft.bench.pipeline import rule_times

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_rule_times_sum_jobs_per_rule_from_benchmark_files(tmp_path):
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "part000.tsv").write_text(HEADER + "10.5\t0:00:10\t300.0\t1\t1\t1\t0\t0\t90\t9.0\n")
    (tmp_path / "golden" / "part001.tsv").write_text(HEADER + "20.0\t0:00:20\t500.0\t1\t1\t1\t0\t0\t95\t19.0\n")
    (tmp_path / "metrics.tsv").write_text(HEADER + "40.0\t0:00:40\t800.0\t1\t1\t1\t0\t0\t99\t39.5\n")
    # a replicate's jobs (replicates/<i>/<rule>...) count with the run's own rule
    (tmp_path / "replicates" / "1" / "golden").mkdir(parents=True)
    (tmp_path / "replicates" / "1" / "golden" / "part000.tsv").write_text(
        HEADER + "12.0\t0:00:12\t700.0\t1\t1\t1\t0\t0\t90\t11.0\n")
    rows = {r["rule"]: r for r in rule_times(tmp_path)}
    assert "replicates" not in rows
    assert rows["golden"] == {"rule": "golden", "jobs": 3, "seconds": 42.5, "longest": 20.0, "cpu_seconds": 39.0,
                              "max_rss_mb": 700.0}
    (tmp_path / "replicates" / "1" / "golden" / "part000.tsv").unlink()
    rows = {r["rule"]: r for r in rule_times(tmp_path)}
    assert rows["golden"] == {"rule": "golden", "jobs": 2, "seconds": 30.5, "longest": 20.0, "cpu_seconds": 28.0,
                              "max_rss_mb": 500.0}
    assert rows["metrics"]["jobs"] == 1 and rows["metrics"]["max_rss_mb"] == 800.0
    assert [r["rule"] for r in rule_times(tmp_path)] == ["metrics", "golden"]  # longest total first


def test_bench_refuses_bad_run_names_and_folders_it_did_not_make(tmp_path):
    import pytest

    from metasft.bench.pipeline import MARKER, BenchError, main, prepare_run_folders

    for bad in ("", "..", ".", "../x", "a/b"):
        with pytest.raises(BenchError, match="is not a run name"):
            prepare_run_folders(bad, tmp_path)
    real = tmp_path / "results" / "default"
    real.mkdir(parents=True)
    (real / "metrics.csv").write_text("precious")
    with pytest.raises(BenchError, match="results/default holds results the benchmark did not make"):
        prepare_run_folders("default", tmp_path)
    assert (real / "metrics.csv").read_text() == "precious"
    assert not (tmp_path / "logs" / "default").exists()  # refused before touching anything

    made = prepare_run_folders("bench", tmp_path)
    assert all((folder / MARKER).exists() for folder in made)
    (made[0] / "old.txt").write_text("from an earlier benchmark")
    prepare_run_folders("bench", tmp_path)  # its own folders are emptied and reused
    assert not (made[0] / "old.txt").exists() and (made[0] / MARKER).exists()
    assert main(["--run", ".."]) == 2


def test_bench_passes_config_overrides_but_not_the_run_name(capsys):
    import pytest

    from metasft.bench.pipeline import BenchError, main, snakemake_command

    command = snakemake_command("config/presets/tiny/trivia_scale.yaml", 2, "bench", ["replicates=3", "metrics.resample=pairs"])
    assert command[command.index("--config"):] == ["--config", "run=bench", "replicates=3",
                                                   "metrics.resample=pairs", "--quiet", "rules"]
    with pytest.raises(BenchError, match="name the run with --run"):
        snakemake_command("config/config.yaml", 2, "bench", ["replicates=3", " run =elsewhere"])
    # refused before any folder is made
    assert main(["--run", "bench_refused", "--config", "run=elsewhere"]) == 2
    assert "name the run with --run" in capsys.readouterr().err
