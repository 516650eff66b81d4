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
        seed=config["seed"],
        judge_prompts=get_judge_prompts_for_world(),
    threads: config["tiny"]["threads"]
    resources:
        mem_mb=get_resource("pretrain_base", "mem_mb"),
        runtime=get_resource("pretrain_base", "runtime"),
        cpus_per_task=get_resource("pretrain_base", "cpus_per_task"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/pretrain_base.py"
