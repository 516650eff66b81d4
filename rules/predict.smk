rule predict_icl:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
    output:
        f"{RESULTS}/answers/UntrainedICL/chunks/{{chunk}}.parquet",
    log:
        f"{LOGS}/predict_icl/{{chunk}}.log",
    benchmark:
        f"{BENCHMARKS}/predict_icl/{{chunk}}.tsv"
    params:
        source="UntrainedICL",
        base_model=base_model_path(),
        adapters={},
        domains=get_chunk_domains,
        sampling=result_settings(config, "generation"),
        icl_k=config["icl"]["k"],
        seed=config["seed"],
        chat=config["chat"],
    threads: config["generation"]["threads"]
    resources:
        mem_mb=get_resource("predict_icl", "mem_mb"),
        runtime=get_resource("predict_icl", "runtime"),
        cpus_per_task=get_resource("predict_icl", "cpus_per_task"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/sample_answers.py"


rule predict_metasft:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        adapter=get_meta_adapter,
    output:
        f"{RESULTS}/answers/MetaSFT/chunks/{{chunk}}.parquet",
    log:
        f"{LOGS}/predict_metasft/{{chunk}}.log",
    benchmark:
        f"{BENCHMARKS}/predict_metasft/{{chunk}}.tsv"
    params:
        source="MetaSFT",
        base_model=base_model_path(),
        adapters={"MetaSFT": f"{RESULTS}/meta/adapter"},
        domains=get_chunk_domains,
        sampling=result_settings(config, "generation"),
        icl_k=config["icl"]["k"],
        seed=config["seed"],
        chat=config["chat"],
    threads: config["generation"]["threads"]
    resources:
        mem_mb=get_resource("predict_metasft", "mem_mb"),
        runtime=get_resource("predict_metasft", "runtime"),
        cpus_per_task=get_resource("predict_metasft", "cpus_per_task"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/sample_answers.py"
