rule golden:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        adapters=get_adapter_dirs,
    output:
        f"{RESULTS}/answers/golden/chunks/{{chunk}}.parquet",
    log:
        f"{LOGS}/golden/{{chunk}}.log",
    benchmark:
        f"{BENCHMARKS}/golden/{{chunk}}.tsv"
    params:
        source="golden",
        base_model=base_model_path(),
        adapters=get_adapter_paths,
        domains=get_chunk_domains,
        sampling=config["generation"],
        icl_k=config["icl"]["k"],
        seed=config["seed"],
    threads: config["generation"]["threads"]
    resources:
        mem_mb=get_resource("golden", "mem_mb"),
        runtime=get_resource("golden", "runtime"),
        cpus_per_task=get_resource("golden", "cpus_per_task"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/sample_answers.py"
