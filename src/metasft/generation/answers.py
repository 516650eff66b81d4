"""The sampling stages (golden labels, UntrainedICL, MetaSFT and the NL methods): prompts, seeds and answer tables."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from metasft.generation.engines import load_engine
from metasft.generation.requests import GenerationRequest, SamplingSettings
from metasft.methods.prompts import prompts_of
from metasft.pipeline.config import settings_from
from metasft.pipeline.io import write_parquet
from metasft.pipeline.seeds import derived_seed
from metasft.sources import BY_NAME, TRAIN_DOMAIN
from metasft.suites.domains import Suite, quadrant

log = logging.getLogger(__name__)


ANSWER_SCHEMA = {
    "train_domain": pl.String, "eval_domain": pl.String, "quadrant": pl.String, "question_index": pl.Int32,
    "question": pl.String, "sample_index": pl.Int32, "answer": pl.String, "finished": pl.Boolean,
    "new_tokens": pl.Int32,
}


def source_requests(suite: Suite, source: str, train_domains: list[str], sampling: SamplingSettings, icl_k: int,
                    seed: int, pairs: set[tuple[str, str]] | None = None,
                    ) -> tuple[list[tuple[str, str, int, list[dict]]], list[GenerationRequest]]:
    """Every request of a chunk: (T, E, question index, messages) and the engine request for it.

    Golden requests name T's adapter, the others their source's (`metasft.sources`: MetaSFT and MetaSFT-to-NL the
    `MetaSFT` adapter, MetaSFT-NL its own, UntrainedICL and UntrainedNL the base model). Each
    request's seed is derived from (config seed, source, T, E, question), so its samples do not depend on how
    domains are chunked into jobs or batched together. A question is sampled `samples_per_question` times unless
    its suite file says otherwise (the samples_per_paraphrase of a question-YAML file). `pairs`: only these
    (T, E) (the selection loop's probes and evaluation subsets), with the same prompts and seeds as in a whole run.
    """
    keys, requests = [], []
    for train_domain in train_domains:
        adapter = train_domain if BY_NAME[source].adapter == TRAIN_DOMAIN else BY_NAME[source].adapter
        for eval_domain, qi, messages in prompts_of(source)(suite, train_domain, icl_k, seed):
            if pairs is not None and (train_domain, eval_domain) not in pairs:
                continue
            keys.append((train_domain, eval_domain, qi, messages))
            requests.append(GenerationRequest(messages, adapter, derived_seed(seed, source, train_domain, eval_domain, qi),
                                              suite.domains[eval_domain].samples(qi, sampling.samples_per_question)))
    return keys, requests


def sample_source(engine, suite: Suite, split: dict[str, str], source: str, train_domains: list[str],
                  sampling: SamplingSettings, icl_k: int, seed: int, output: str | Path | None = None,
                  pairs: set[tuple[str, str]] | None = None) -> pl.DataFrame:
    """Answers of `source` for every (T, E) with T in `train_domains`, as one table (written to `output` if given).

    All requests of the chunk go to the engine in one call, so rows for different adapters (golden: one adapter
    per train domain, named by the domain id) share batches.
    """
    keys, requests = source_requests(suite, source, train_domains, sampling, icl_k, seed, pairs)
    answers = engine.generate(requests)
    rows = []
    for (train_domain, eval_domain, qi, messages), samples in zip(keys, answers):
        for si, sample in enumerate(samples):
            rows.append({"train_domain": train_domain, "eval_domain": eval_domain,
                         "quadrant": quadrant(split, train_domain, eval_domain), "question_index": qi,
                         "question": suite.domains[eval_domain].eval_questions[qi], "sample_index": si, **sample})
    log.info("%s: sampled %d answers for %d train domains", source, len(rows), len(train_domains))
    table = pl.DataFrame(rows, schema=ANSWER_SCHEMA)
    if output is not None:
        write_parquet(table, output)
    return table


def sample_answers(suite_path, output, *, source: str, base_model: str, adapters: dict[str, str],
                   train_domains: list[str], settings: dict, icl_k: int, seed: int, threads: int = 1,
                   chat: dict | None = None) -> pl.DataFrame:
    """Stages `golden`, `predict_icl`, `predict_metasft` and the NL ones: load the model once, sample the chunk,
    write it. The backend comes from `generation.backend`; a meta-model's single adapter is merged into the
    weights (hf)."""
    from metasft.models.loading import configure_torch
    from metasft.suites.snapshot import read_snapshot

    configure_torch(threads)
    suite, split = read_snapshot(suite_path)
    sampling = settings_from(SamplingSettings, settings, "generation")
    merge = BY_NAME[source].adapter not in (None, TRAIN_DOMAIN)  # one meta-model adapter for every request
    engine = load_engine(base_model, adapters, sampling, merge=merge, chat=chat)
    return sample_source(engine, suite, split, source, train_domains, sampling, icl_k, seed, output)
