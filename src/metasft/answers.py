"""The three sampling stages (golden labels, UntrainedICL, MetaSFT): prompts, seeds and answer tables."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from metasft.chat import object_icl_messages, single_turn
from metasft.generate import SamplingSettings, derived_seed, sample_answers
from metasft.io import write_parquet
from metasft.suite import Suite, icl_examples, quadrant

log = logging.getLogger(__name__)

ANSWER_SCHEMA = {
    "train_domain": pl.String, "eval_domain": pl.String, "quadrant": pl.String, "question_index": pl.Int32,
    "question": pl.String, "sample_index": pl.Int32, "answer": pl.String, "finished": pl.Boolean,
    "new_tokens": pl.Int32,
}


def golden_prompts(suite: Suite, train_domain: str, icl_k: int, seed: int):
    """ObjectSFT golden labels: `M_T` sees E's eval question alone."""
    return [(e.id, qi, single_turn(q)) for e in suite.domains.values() for qi, q in enumerate(e.eval_questions)]


def icl_prompts(suite: Suite, train_domain: str, icl_k: int, seed: int):
    """ObjectICL: k train pairs of T as prior turns, then E's eval question (UntrainedICL and MetaSFT)."""
    t = suite.domains[train_domain]
    return [(e.id, qi, object_icl_messages(icl_examples(t, icl_k, seed, e.id, qi), q))
            for e in suite.domains.values() for qi, q in enumerate(e.eval_questions)]


PROMPTS = {"golden": golden_prompts, "UntrainedICL": icl_prompts, "MetaSFT": icl_prompts}


def answer_rows(suite: Suite, split: dict[str, str], train_domain: str, prompts, answers) -> list[dict]:
    rows = []
    for (eval_domain, qi, messages), samples in zip(prompts, answers):
        for si, sample in enumerate(samples):
            rows.append({"train_domain": train_domain, "eval_domain": eval_domain,
                         "quadrant": quadrant(split, train_domain, eval_domain), "question_index": qi,
                         "question": messages[-1]["content"], "sample_index": si, **sample})
    return rows


def sample_source(model, tokenizer, suite: Suite, split: dict[str, str], source: str, train_domains: list[str],
                  sampling: SamplingSettings, icl_k: int, seed: int, output: str | Path) -> pl.DataFrame:
    """Answers of `source` for every (T, E) with T in `train_domains`, written as one table.

    For golden labels the model must hold one adapter per train domain, named by the domain id; the
    adapter is switched per T, and each T is sampled with its own seed so chunking never changes results.
    """
    rows = []
    for train_domain in train_domains:
        if source == "golden":
            model.set_adapter(train_domain)
        prompts = PROMPTS[source](suite, train_domain, icl_k, seed)
        answers = sample_answers(model, tokenizer, [p[2] for p in prompts], sampling,
                                 derived_seed(seed, source, train_domain))
        rows += answer_rows(suite, split, train_domain, prompts, answers)
        log.info("%s: sampled %d answers for train domain %s", source, sum(map(len, answers)), train_domain)
    table = pl.DataFrame(rows, schema=ANSWER_SCHEMA)
    write_parquet(table, output)
    return table


def sample_chunk(suite_path, base_model: str, adapters: dict[str, str], source: str, train_domains: list[str],
                 sampling: dict, icl_k: int, seed: int, output, threads: int = 1) -> pl.DataFrame:
    """One job of golden / predict_icl / predict_metasft: load the model once, sample the chunk, write it."""
    from metasft.modeling import configure_torch, load_with_adapters
    from metasft.snapshot import read_snapshot

    configure_torch(threads)
    suite, split = read_snapshot(suite_path)
    model, tokenizer = load_with_adapters(base_model, adapters)
    return sample_source(model, tokenizer, suite, split, source, train_domains, SamplingSettings.from_config(sampling),
                         icl_k, seed, output)
