rule pretrain_base:
    input:
        f"{RESULTS}/suite/suite.json",
    output:
        directory(f"{RESULTS}/base_model"),
    log:
        f"{LOGS}/pretrain_base.log",
    benchmark:
        f"{BENCHMARKS}/pretrain_base.tsv"
    params:
        settings=result_settings(config, "tiny"),
        seed=TRAINING_SEED,
        judge_prompts=get_judge_prompts_for_world(),
    threads: config["tiny"]["threads"]
    resources:
        **rule_resources("pretrain_base"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/pretrain_base.py"
