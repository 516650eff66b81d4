rule suite:
    input:
        meta=f"{config['suite']['path']}/suite.yaml",
        files=suite_files(),
    output:
        f"{RESULTS}/suite/suite.json",
    log:
        f"{LOGS}/suite.log",
    params:
        path=get_suite_folder,
        domains=DOMAINS,
        seed=config["seed"],
        meta_train_fraction=config["split"]["meta_train_fraction"],
        eval_questions_per_domain=config["generation"]["eval_questions_per_domain"],
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/suite.py"
