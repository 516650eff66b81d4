# The selection loop replayed on this run's golden labels (config selection.simulation): round 0 once per seed (its
# initial set is every policy's), one job per policy and seed for the rest of a curve (meta-training and MetaSFT's
# answers repeated per round), then the learning curves of all of them.
rule simulate_selection_start:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        golden=get_train_train_golden,
        propensities=f"{RESULTS}/metrics/propensities.parquet",
    output:
        adapter=directory(f"{RESULTS}/selection/simulation/start/{{selection_seed}}/adapter"),
        predictions=f"{RESULTS}/selection/simulation/start/{{selection_seed}}/predictions.parquet",
        start=f"{RESULTS}/selection/simulation/start/{{selection_seed}}/start.json",
    log:
        f"{LOGS}/simulate_selection_start/{{selection_seed}}.log",
    benchmark:
        f"{BENCHMARKS}/simulate_selection_start/{{selection_seed}}.tsv"
    wildcard_constraints:
        selection_seed=r"\d+",
    params:
        **selection_params(),
    threads: config["selection"]["simulation"]["threads"]
    resources:
        **rule_resources("simulate_selection"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/simulate_selection_start.py"


rule simulate_selection:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        golden=get_train_train_golden,
        propensities=f"{RESULTS}/metrics/propensities.parquet",
        start_adapter=f"{RESULTS}/selection/simulation/start/{{selection_seed}}/adapter",
        start_predictions=f"{RESULTS}/selection/simulation/start/{{selection_seed}}/predictions.parquet",
        start=f"{RESULTS}/selection/simulation/start/{{selection_seed}}/start.json",
    output:
        curve=f"{RESULTS}/selection/simulation/{{policy}}/{{selection_seed}}/curve.parquet",
        rounds=f"{RESULTS}/selection/simulation/{{policy}}/{{selection_seed}}/rounds.csv",
        predictions=f"{RESULTS}/selection/simulation/{{policy}}/{{selection_seed}}/predictions.parquet",
    log:
        f"{LOGS}/simulate_selection/{{policy}}/{{selection_seed}}.log",
    benchmark:
        f"{BENCHMARKS}/simulate_selection/{{policy}}/{{selection_seed}}.tsv"
    wildcard_constraints:
        policy="|".join(SELECTION_POLICIES),
        selection_seed=r"\d+",
    params:
        **selection_params(),
        bootstrap_resamples=config["metrics"]["bootstrap_resamples"],
        confidence=config["metrics"]["confidence"],
    threads: config["selection"]["simulation"]["threads"]
    resources:
        **rule_resources("simulate_selection"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/simulate_selection.py"


rule learning_curve:
    input:
        curves=get_selection_curves("curve.parquet"),
        rounds=get_selection_curves("rounds.csv"),
        suite=f"{RESULTS}/suite/suite.json",
        propensities=f"{RESULTS}/metrics/propensities.parquet",
    output:
        table=f"{RESULTS}/metrics/learning_curve.csv",
        summary=f"{RESULTS}/metrics/learning_curve_summary.csv",
        rounds=f"{RESULTS}/selection/simulation/rounds.csv",
        figure=report(
            f"{RESULTS}/plots/learning_curve.png",
            caption="../report/learning_curve.rst",
            category="Selection",
        ),
    log:
        f"{LOGS}/learning_curve.log",
    params:
        eval_domains=config["selection"]["simulation"]["eval_domains"],
        seed=config["seed"],
        bootstrap_resamples=config["metrics"]["bootstrap_resamples"],
        confidence=config["metrics"]["confidence"],
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/learning_curve.py"
