# The live selection loop (config selection.enabled): round r's meta-model is trained on the golden labels of the
# meta-train domains chosen up to round r, and checkpoint selection_round picks round r + 1's domains with it. Their
# fine-tunes and golden rows are chunks of their own (round<r>part<k>, rules finetune and golden as always); the
# run's MetaSFT is then trained on every chosen domain by rule meta_train.
use rule meta_shards as selection_round_shards with:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        golden=get_round_golden,
    output:
        f"{RESULTS}/selection/rounds/{{round}}/metasft_train.parquet",
    log:
        f"{LOGS}/selection_round_shards/{{round}}.log",
    wildcard_constraints:
        round=r"\d+",


use rule meta_train as selection_round_meta_train with:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        shards=f"{RESULTS}/selection/rounds/{{round}}/metasft_train.parquet",
        previous=get_previous_round_adapter,
    output:
        directory(f"{RESULTS}/selection/rounds/{{round}}/adapter"),
    log:
        f"{LOGS}/selection_round_meta_train/{{round}}.log",
    benchmark:
        f"{BENCHMARKS}/selection_round_meta_train/{{round}}.tsv"
    wildcard_constraints:
        round=r"\d+",
    params:
        base_model=base_model_path(),
        settings=get_round_meta_settings,
        seed=TRAINING_SEED,
        chat=config["chat"],
        init_adapter=get_previous_round_adapter_path,
        round_index=get_round_index,


checkpoint selection_round:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        adapter=f"{RESULTS}/selection/rounds/{{round}}/adapter",
        icl=get_score_chunks("UntrainedICL"),
    output:
        picks=f"{RESULTS}/selection/rounds/{{round}}/picks.json",
    log:
        f"{LOGS}/selection_round/{{round}}.log",
    benchmark:
        f"{BENCHMARKS}/selection_round/{{round}}.tsv"
    wildcard_constraints:
        round=r"\d+",
    params:
        **selection_params(),
        policy=config["selection"]["policy"],
        chosen=get_chosen_before_round,
    threads: config["meta_train"]["threads"]
    resources:
        **rule_resources("simulate_selection"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/selection_round.py"


rule selection_rounds:
    input:
        get_round_picks,
    output:
        f"{RESULTS}/selection/rounds.csv",
    log:
        f"{LOGS}/selection_rounds.log",
    params:
        initial=SELECTION_INITIAL,
    localrule: True
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/selection_rounds.py"
