rule finetune:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
    output:
        directory(f"{RESULTS}/finetune/{{finetune_chunk}}"),
    log:
        f"{LOGS}/finetune/{{finetune_chunk}}.log",
    benchmark:
        f"{BENCHMARKS}/finetune/{{finetune_chunk}}.tsv"
    params:
        base_model=base_model_path(),
        domains=get_finetune_chunk_domains,
        settings=result_settings(config, "finetune"),
        seed=TRAINING_SEED,
        chat=config["chat"],
    threads: config["finetune"]["threads"]
    resources:
        **rule_resources("finetune"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/finetune.py"
