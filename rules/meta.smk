rule meta_shards:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        golden=get_train_train_golden,
    output:
        f"{RESULTS}/meta/metasft_train.parquet",
    log:
        f"{LOGS}/meta_shards.log",
    params:
        icl_k=config["icl"]["k"],
        seed=TRAINING_SEED,
        description_fraction=0.0,
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/meta_shards.py"


rule meta_train:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        shards=f"{RESULTS}/meta/metasft_train.parquet",
    output:
        directory(f"{RESULTS}/meta/adapter"),
    log:
        f"{LOGS}/meta_train.log",
    benchmark:
        f"{BENCHMARKS}/meta_train.tsv"
    params:
        base_model=base_model_path(),
        settings=result_settings(config, "meta_train"),
        seed=TRAINING_SEED,
        chat=config["chat"],
        init_adapter=None,
        round_index=0,
    threads: config["meta_train"]["threads"]
    resources:
        **rule_resources("meta_train"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/meta_train.py"


# MetaSFT-NL (config nl.enabled): the same meta-training on a mix of ICL and description prompts, the study's
# "small additional fine-tune" that teaches the meta-model to read plain-word descriptions of training data.
use rule meta_shards as meta_shards_nl with:
    output:
        f"{RESULTS}/meta_nl/metasft_train.parquet",
    log:
        f"{LOGS}/meta_shards_nl.log",
    params:
        icl_k=config["icl"]["k"],
        seed=TRAINING_SEED,
        description_fraction=config["nl"]["description_fraction"],


use rule meta_train as meta_train_nl with:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        shards=f"{RESULTS}/meta_nl/metasft_train.parquet",
    output:
        directory(f"{RESULTS}/meta_nl/adapter"),
    log:
        f"{LOGS}/meta_train_nl.log",
    benchmark:
        f"{BENCHMARKS}/meta_train_nl.tsv"
    resources:
        **rule_resources("meta_train_nl"),
