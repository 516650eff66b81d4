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
        **rule_resources("baselines"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/baselines.py"


rule metrics:
    input:
        unpack(get_source_scores),  # named by source_key: golden, UntrainedICL, MetaSFT (, the NL methods)
        suite=f"{RESULTS}/suite/suite.json",
        baselines=f"{RESULTS}/baselines/predictions.parquet",
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
        resample=config["metrics"]["resample"],
        primary=config["metrics"]["primary"],
        max_unscored_rate=config["metrics"]["max_unscored_rate"],
        seed=config["seed"],
        score_paths=get_score_paths,  # the same files as the inputs, by source
    resources:
        **rule_resources("metrics"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/metrics.py"


rule run_info:
    input:
        metrics=f"{RESULTS}/metrics/metrics.csv",  # the run's end
        models=get_trained_models,  # the folders whose training records it reads
    output:
        f"{RESULTS}/run_info.json",
    log:
        f"{LOGS}/run_info.log",
    params:
        results=get_output_folder,
    localrule: True
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/run_info.py"
