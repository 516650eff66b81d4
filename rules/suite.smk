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


# nl.descriptions claude: a description of each domain's training data that the suite does not write itself, by
# Claude from the domain's train examples (metasft.suites.describe); cached like generate_suite.
rule describe_domains:
    input:
        meta=f"{config['suite']['path']}/suite.yaml",
        files=suite_files(),
        generated=get_generated_areas,
        prompt="resources/descriptions/describe_domain.txt",
    output:
        DESCRIPTIONS,
    log:
        f"{LOGS}/describe_domains.log",
    params:
        path=get_suite_folder,
        generated_dir=GENERATED_SUITE,
        domains=DOMAINS,
        settings={k: config["nl"][k] for k in ("description_examples", "description_max_words")},
        model=config["suite_generation"]["model"],
        seed=config["seed"],
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/describe_domains.py"


rule suite:
    input:
        meta=f"{config['suite']['path']}/suite.yaml",
        files=suite_files(),
        generated=get_generated_areas,
        descriptions=get_descriptions,
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
