rule baselines:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        golden=get_score_chunks("golden"),
    output:
        f"{RESULTS}/baselines/predictions.parquet",
    log:
        f"{LOGS}/baselines.log",
    params:
        permutations=config["metrics"]["permutations"],
        seed=config["seed"],
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
    log:
        f"{LOGS}/metrics.log",
    params:
        bootstrap_resamples=config["metrics"]["bootstrap_resamples"],
        confidence=config["metrics"]["confidence"],
        seed=config["seed"],
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/metrics.py"
