"""MetaSFT: the meta-training set (ObjectICL prompts -> golden answers) and the meta-model."""

from __future__ import annotations

import json
import logging

import polars as pl

from metasft.methods.prompts import object_icl_messages
from metasft.pipeline.config import settings_from
from metasft.pipeline.io import read_parquet, read_parquets, write_parquet
from metasft.pipeline.seeds import derived_seed
from metasft.suites.domains import icl_examples
from metasft.suites.snapshot import read_snapshot

log = logging.getLogger(__name__)


def meta_rows(suite, golden: pl.DataFrame, icl_k: int, seed: int) -> pl.DataFrame:
    """One row per golden answer of a train_train pair: the ObjectICL prompt of (T, E, question) and the answer.

    The ICL examples are the same ones UntrainedICL and MetaSFT see for that (T, E, question).
    """
    rows = []
    golden = golden.filter(pl.col("quadrant") == "train_train").sort(
        "train_domain", "eval_domain", "question_index", "sample_index")
    for row in golden.iter_rows(named=True):
        t, e, qi = row["train_domain"], row["eval_domain"], row["question_index"]
        prompt = object_icl_messages(icl_examples(suite.domains[t], icl_k, seed, e, qi),
                                     suite.domains[e].eval_questions[qi])
        rows.append({"train_domain": t, "eval_domain": e, "question_index": qi, "sample_index": row["sample_index"],
                     "prompt": json.dumps(prompt), "completion": row["answer"]})
    return pl.DataFrame(rows, schema={"train_domain": pl.String, "eval_domain": pl.String,
                                      "question_index": pl.Int32, "sample_index": pl.Int32, "prompt": pl.String,
                                      "completion": pl.String})


def meta_shards(suite_path, golden_paths: list[str], output, *, icl_k: int, seed: int) -> pl.DataFrame:
    """Stage `meta_shards`: the MetaSFT training set, one ObjectICL prompt per train_train golden answer."""
    suite, _ = read_snapshot(suite_path)
    golden = read_parquets(golden_paths)
    table = meta_rows(suite, golden, icl_k, seed)
    if table.is_empty():
        raise ValueError("no train_train golden answers: the meta split has no meta_train domain")
    write_parquet(table, output)
    log.info("meta_shards: %d examples from %d pairs", table.height,
             table.select("train_domain", "eval_domain").n_unique())
    return table


def meta_train(shards_path, output_dir, *, base_model: str, settings: dict, seed: int, threads: int = 1,
               chat: dict | None = None) -> dict:
    """Stage `meta_train`: LoRA-train the base model on the MetaSFT set; the adapter is the meta-model."""
    from metasft.models.loading import configure_torch, load_base
    from metasft.models.training import SFTSettings, lora_sft, prompt_completion_rows

    configure_torch(threads)
    table = read_parquet(shards_path)
    rows = prompt_completion_rows([json.loads(p) for p in table["prompt"]], table["completion"].to_list())
    model, tokenizer = load_base(base_model, chat=chat)
    summary = lora_sft(model, tokenizer, rows, settings_from(SFTSettings, settings, "meta_train"), output_dir,
                       derived_seed(seed, "meta_train"))
    log.info("meta_train: loss %.3f over %d examples in %.1fs", summary["train_loss"], len(rows), summary["seconds"])
    return summary
