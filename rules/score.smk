# Categorical suites parse options; advice suites are judged by an LLM (judge.backend), through the shared
# judge cache, so a rerun after deleting score files makes no new judge calls.
rule score:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        answers=f"{RESULTS}/answers/{{source}}/chunks/{{chunk}}.parquet",
        judge_model=judge_model_input,
    output:
        f"{RESULTS}/scores/{{source}}/chunks/{{chunk}}.parquet",
    log:
        f"{LOGS}/score/{{source}}/{{chunk}}.log",
    benchmark:
        f"{BENCHMARKS}/score/{{source}}/{{chunk}}.tsv"
    params:
        judge=result_settings(config, "judge"),
        base_model=base_model_path(),
        chat=config["chat"],
    threads: config["judge"]["hf"]["threads"] if config["judge"]["backend"] == "hf" else 1
    resources:
        mem_mb=get_resource("score", "mem_mb"),
        runtime=get_resource("score", "runtime"),
        cpus_per_task=get_resource("score", "cpus_per_task"),
        gpu=get_resource("score", "gpu"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/score.py"


# Per-pair files on request: jobs run per chunk of train domains, but any single pair's answers or scores
# can be named as a target (results/<run>/answers/golden/<T>/<E>.parquet) and only its chunk is built.
rule pair_result:
    input:
        get_chunk_table,
    output:
        f"{RESULTS}/{{table}}/{{source}}/{{train_domain}}/{{eval_domain}}.parquet",
    log:
        f"{LOGS}/pair_result/{{table}}/{{source}}/{{train_domain}}/{{eval_domain}}.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/pair_result.py"
