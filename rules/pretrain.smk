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
        settings=config["tiny"],
        seed=config["seed"],
    threads: config["tiny"]["threads"]
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/pretrain_base.py"
