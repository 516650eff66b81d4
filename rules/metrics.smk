rule baselines:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        golden=get_score_chunks("golden"),
    output:
        f"{RESULTS}/baselines/predictions.parquet",
    log:
        f"{LOGS}/baselines.log",
    benchmark:
        f"{BENCHMARKS}/baselines.tsv"
    params:
        permutations=config["metrics"]["permutations"],
        seed=config["seed"],
    resources:
        mem_mb=get_resource("baselines", "mem_mb"),
        runtime=get_resource("baselines", "runtime"),
        cpus_per_task=get_resource("baselines", "cpus_per_task"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/baselines.py"


rule metrics:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        baselines=f"{RESULTS}/baselines/predictions.parquet",
        golden=get_score_chunks("golden"),
        untrained_icl=get_score_chunks("UntrainedICL"),
        metasft=get_score_chunks("MetaSFT"),
    output:
        metrics=f"{RESULTS}/metrics/metrics.csv",
        generalization=f"{RESULTS}/metrics/generalization.json",
        propensities=f"{RESULTS}/metrics/propensities.parquet",
        predictions=f"{RESULTS}/metrics/predictions.parquet",
        comparisons=f"{RESULTS}/metrics/comparisons.csv",
    log:
        f"{LOGS}/metrics.log",
    benchmark:
        f"{BENCHMARKS}/metrics.tsv"
    params:
        bootstrap_resamples=config["metrics"]["bootstrap_resamples"],
        confidence=config["metrics"]["confidence"],
        max_unscored_rate=config["metrics"]["max_unscored_rate"],
        seed=config["seed"],
    resources:
        mem_mb=get_resource("metrics", "mem_mb"),
        runtime=get_resource("metrics", "runtime"),
        cpus_per_task=get_resource("metrics", "cpus_per_task"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/metrics.py"
