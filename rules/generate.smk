# Advice-suite areas that ship no data are written here through the Anthropic API; every reply is cached
# (judge.cache_dir), so a rerun makes no calls and gives the same file.
rule generate_suite:
    output:
        f"{GENERATED_SUITE}/{{area}}.yaml",
    log:
        f"{LOGS}/generate_suite/{{area}}.log",
    params:
        area=get_area,
        settings=result_settings(config, "suite_generation"),
        prompts=f"{config['suite']['path']}/prompts",
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/generate_suite.py"
