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
        seed=config["seed"],
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
        seed=config["seed"],
        chat=config["chat"],
    threads: config["meta_train"]["threads"]
    resources:
        **rule_resources("meta_train"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/meta_train.py"
