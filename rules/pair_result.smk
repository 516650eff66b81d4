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
