# Inverse prediction (config inverse): which training data did this? The forward methods score every candidate train
# domain of T's half by the likelihood of M_T's golden answers; one job per chunk of the ranked eval domains (all, or
# inverse.eval_domains of them), one model load with the meta-models' adapters (metasft.methods.inverse).
rule inverse_likelihoods:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        adapters=get_inverse_adapter_dirs,
        golden=get_golden_answer_chunks,
    output:
        f"{RESULTS}/inverse/likelihoods/{{inverse_chunk}}.parquet",
    log:
        f"{LOGS}/inverse_likelihoods/{{inverse_chunk}}.log",
    benchmark:
        f"{BENCHMARKS}/inverse_likelihoods/{{inverse_chunk}}.tsv"
    params:
        base_model=base_model_path(),
        adapters=get_inverse_adapters(),
        methods=INVERSE_METHODS,
        eval_domains=get_inverse_chunk_domains,
        settings=result_settings(config, "inverse"),
        icl_k=config["icl"]["k"],
        seed=TRAINING_SEED,
        chat=config["chat"],
    threads: config["generation"]["threads"]
    resources:
        **rule_resources("inverse_likelihoods"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/inverse_likelihoods.py"


# Ranks, inverse.csv (top-1, top-5, MRR per method and quadrant, with CIs and chance) and its figure; the golden
# propensities, estimated from the samples the methods do not observe, are the ceiling.
rule inverse:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        likelihoods=expand(f"{RESULTS}/inverse/likelihoods/{{chunk}}.parquet", chunk=INVERSE_CHUNKS),
        golden=get_score_chunks("golden"),
    output:
        table=f"{RESULTS}/metrics/inverse.csv",
        ranks=f"{RESULTS}/inverse/ranks.parquet",
        figure=report(
            f"{RESULTS}/plots/inverse_by_quadrant.png",
            caption="../report/inverse_by_quadrant.rst",
            category="Inverse prediction",
        ),
    log:
        f"{LOGS}/inverse.log",
    params:
        answers_per_question=config["inverse"]["answers_per_question"],
        bootstrap_resamples=config["metrics"]["bootstrap_resamples"],
        confidence=config["metrics"]["confidence"],
        resample=config["metrics"]["resample"],
        seed=config["seed"],
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/inverse.py"
