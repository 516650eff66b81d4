# config replicates > 1: each replicate 1..N-1 is this whole workflow again as a module, its config differing in
# replicate_of alone (metasft.pipeline.replicates); its rules are named replicate<i>_<rule>. The loop calls the
# API that Snakemake's `module` and `use rule * from ... as ...` statements compile to, since those statements
# need literal names and the number of replicates comes from config.
for _index in REPLICATES:
    workflow.module(
        name=f"replicate_{_index}",
        snakefile=workflow.main_snakefile,
        config=replicate_config(config, _index),
    )
    workflow.userule(
        rules=["*"],
        from_module=f"replicate_{_index}",
        exclude_rules=excluded_rules(config),
        name_modifier=f"replicate{_index}_*",
        lineno=0,
    )(lambda: None)


rule combine_replicates:
    input:
        get_replicate_predictions,
    output:
        metrics=f"{RESULTS}/replicates/metrics.csv",
        comparisons=f"{RESULTS}/replicates/comparisons.csv",
    log:
        f"{LOGS}/combine_replicates.log",
    benchmark:
        f"{BENCHMARKS}/combine_replicates.tsv"
    params:
        bootstrap_resamples=config["metrics"]["bootstrap_resamples"],
        confidence=config["metrics"]["confidence"],
        resample=config["metrics"]["resample"],
        primary=config["metrics"]["primary"],
        seed=config["seed"],
    resources:
        **rule_resources("metrics"),
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/combine_replicates.py"
