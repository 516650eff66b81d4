# One job per chunk of train domains (generation.domains_per_job adapters): one base-model load, all of the
# chunk's (T, E) requests in one engine call, mixed-adapter batches; per-pair files are views of the chunk table.
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
        sampling=result_settings(config, "generation"),
        icl_k=0,  # golden prompts hold no examples: icl.k must not rerun golden labels
        seed=config["seed"],
        chat=config["chat"],
    threads: config["generation"]["threads"]
    resources:
        mem_mb=get_resource("golden", "mem_mb"),
        runtime=get_resource("golden", "runtime"),
        cpus_per_task=get_resource("golden", "cpus_per_task"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/sample_answers.py"
