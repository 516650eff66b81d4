# metasft ask --verify: the asked training data's real fine-tune, golden answers and their scores, by the pipeline's
# own rules over the query's suite (results/<run>/ask/<query>/suite.json, which metasft ask writes: the run's eval
# domains and the query's training data as one more train domain). On a cluster they go to SLURM as the run's did.
use rule finetune as ask_finetune with:
    input:
        suite=f"{RESULTS}/ask/{{query}}/suite.json",
        base=base_model_input,
    output:
        directory(f"{RESULTS}/ask/{{query}}/finetune"),
    log:
        f"{LOGS}/ask/{{query}}/finetune.log",
    benchmark:
        f"{BENCHMARKS}/ask/{{query}}/finetune.tsv"
    params:
        base_model=base_model_path(),
        domains=get_query_domains,
        settings=result_settings(config, "finetune"),
        seed=TRAINING_SEED,
        chat=config["chat"],


use rule golden as ask_golden with:
    input:
        suite=f"{RESULTS}/ask/{{query}}/suite.json",
        base=base_model_input,
        adapters=f"{RESULTS}/ask/{{query}}/finetune",
    output:
        f"{RESULTS}/ask/{{query}}/golden.parquet",
    log:
        f"{LOGS}/ask/{{query}}/golden.log",
    benchmark:
        f"{BENCHMARKS}/ask/{{query}}/golden.tsv"
    params:
        source="golden",
        base_model=base_model_path(),
        adapters=get_query_adapter_paths,
        domains=get_query_domains,
        sampling=result_settings(config, "generation"),
        icl_k=0,
        seed=TRAINING_SEED,
        chat=config["chat"],


use rule score as ask_score with:
    input:
        suite=f"{RESULTS}/ask/{{query}}/suite.json",
        answers=f"{RESULTS}/ask/{{query}}/golden.parquet",
        judge_model=judge_model_input,
    output:
        f"{RESULTS}/ask/{{query}}/golden_scores.parquet",
    log:
        f"{LOGS}/ask/{{query}}/score.log",
    benchmark:
        f"{BENCHMARKS}/ask/{{query}}/score.tsv"
