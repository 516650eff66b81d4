# One rule per sampled source of metasft.sources (golden, predict_icl, predict_metasft and, with nl.enabled, the NL
# ones), all alike: one job per chunk of train domains (generation.domains_per_job), one base-model load, all of the
# chunk's (T, E) requests in one engine call, mixed-adapter batches; per-pair files are views of the chunk table
# (pair_result). Sources differ only in their model (adapters) and prompts, both read off the registry.
for _source in SAMPLED:

    rule:
        name:
            _source.rule
        input:
            suite=f"{RESULTS}/suite/suite.json",
            base=base_model_input,
            adapters=get_source_adapter_dirs(_source.name),
        output:
            f"{RESULTS}/answers/{_source.name}/chunks/{{chunk}}.parquet",
        log:
            f"{LOGS}/{_source.rule}/{{chunk}}.log",
        benchmark:
            f"{BENCHMARKS}/{_source.rule}/{{chunk}}.tsv"
        params:
            source=_source.name,
            base_model=base_model_path(),
            adapters=get_source_adapter_paths(_source.name),
            domains=get_chunk_domains(_source.name),
            sampling=result_settings(config, "generation"),
            # only ObjectICL prompts hold examples: icl.k must not rerun golden labels or the NL methods
            icl_k=config["icl"]["k"] if _source.prompt == "examples" else 0,
            seed=TRAINING_SEED,
            chat=config["chat"],
        threads: config["generation"]["threads"]
        resources:
            **rule_resources(_source.rule),
        conda:
            "../envs/torch.yaml"
        script:
            "../workflow/scripts/sample_answers.py"
