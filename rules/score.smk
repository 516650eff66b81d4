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
        **rule_resources("score"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/score.py"

