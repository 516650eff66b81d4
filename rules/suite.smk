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


rule suite:
    input:
        meta=f"{config['suite']['path']}/suite.yaml",
        files=suite_files(),
        generated=get_generated_areas,
    output:
        f"{RESULTS}/suite/suite.json",
    log:
        f"{LOGS}/suite.log",
    params:
        path=get_suite_folder,
        generated_dir=GENERATED_SUITE,
        domains=DOMAINS,
        seed=config["seed"],
        meta_train_fraction=config["split"]["meta_train_fraction"],
        eval_questions_per_domain=config["generation"]["eval_questions_per_domain"],
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/suite.py"
