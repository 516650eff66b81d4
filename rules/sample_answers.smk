# One job per chunk of train domains (generation.domains_per_job): one base-model load, all of the chunk's (T, E)
# requests in one engine call, mixed-adapter batches; per-pair files are views of the chunk table (pair_result).
# The three sources differ only in their model (adapters) and prompts (icl_k).
rule golden:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        adapters=get_adapter_dirs,
    output:
        f"{RESULTS}/answers/golden/chunks/{{chunk}}.parquet",
    log:
        f"{LOGS}/golden/{{chunk}}.log",
    benchmark:
        f"{BENCHMARKS}/golden/{{chunk}}.tsv"
    params:
        source="golden",
        base_model=base_model_path(),
        adapters=get_adapter_paths,
        domains=get_chunk_domains,
        sampling=result_settings(config, "generation"),
        icl_k=0,  # golden prompts hold no examples: icl.k must not rerun golden labels
        seed=TRAINING_SEED,
        chat=config["chat"],
    threads: config["generation"]["threads"]
    resources:
        **rule_resources("golden"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/sample_answers.py"


use rule golden as predict_icl with:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        adapters=[],
    output:
        f"{RESULTS}/answers/UntrainedICL/chunks/{{chunk}}.parquet",
    log:
        f"{LOGS}/predict_icl/{{chunk}}.log",
    benchmark:
        f"{BENCHMARKS}/predict_icl/{{chunk}}.tsv"
    params:
        source="UntrainedICL",
        adapters={},
        icl_k=config["icl"]["k"],
    resources:
        **rule_resources("predict_icl"),


use rule golden as predict_metasft with:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        adapters=get_meta_adapter,
    output:
        f"{RESULTS}/answers/MetaSFT/chunks/{{chunk}}.parquet",
    log:
        f"{LOGS}/predict_metasft/{{chunk}}.log",
    benchmark:
        f"{BENCHMARKS}/predict_metasft/{{chunk}}.tsv"
    params:
        source="MetaSFT",
        adapters={"MetaSFT": f"{RESULTS}/meta/adapter"},
        icl_k=config["icl"]["k"],
    resources:
        **rule_resources("predict_metasft"),


# The NL methods (config nl.enabled): T's training data described in plain words instead of shown as examples.
use rule golden as predict_nl with:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        adapters=[],
    output:
        f"{RESULTS}/answers/UntrainedNL/chunks/{{chunk}}.parquet",
    log:
        f"{LOGS}/predict_nl/{{chunk}}.log",
    benchmark:
        f"{BENCHMARKS}/predict_nl/{{chunk}}.tsv"
    params:
        source="UntrainedNL",
        adapters={},
        icl_k=0,  # description prompts hold no examples
    resources:
        **rule_resources("predict_nl"),


# MetaSFT->NL: the ICL-trained meta-model asked with descriptions it never saw in training (zero-shot).
use rule golden as predict_metasft_to_nl with:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        adapters=get_meta_adapter,
    output:
        f"{RESULTS}/answers/MetaSFT-to-NL/chunks/{{chunk}}.parquet",
    log:
        f"{LOGS}/predict_metasft_to_nl/{{chunk}}.log",
    benchmark:
        f"{BENCHMARKS}/predict_metasft_to_nl/{{chunk}}.tsv"
    params:
        source="MetaSFT-to-NL",
        adapters={"MetaSFT": f"{RESULTS}/meta/adapter"},
        icl_k=0,
    resources:
        **rule_resources("predict_metasft_to_nl"),


use rule golden as predict_metasft_nl with:
    input:
        suite=f"{RESULTS}/suite/suite.json",
        base=base_model_input,
        adapters=get_meta_nl_adapter,
    output:
        f"{RESULTS}/answers/MetaSFT-NL/chunks/{{chunk}}.parquet",
    log:
        f"{LOGS}/predict_metasft_nl/{{chunk}}.log",
    benchmark:
        f"{BENCHMARKS}/predict_metasft_nl/{{chunk}}.tsv"
    params:
        source="MetaSFT-NL",
        adapters={"MetaSFT-NL": f"{RESULTS}/meta_nl/adapter"},
        icl_k=0,
    resources:
        **rule_resources("predict_metasft_nl"),
