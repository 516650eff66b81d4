"""MetaSFT: the meta-training set (ObjectICL prompts -> golden answers) and the meta-model; MetaSFT-NL's set mixes in
description prompts."""

from __future__ import annotations

import json
import logging
import random

import polars as pl

from metasft.pipeline.config import settings_from
from metasft.pipeline.io import read_parquet, read_parquets, write_parquet
from metasft.pipeline.seeds import derived_seed
from metasft.suites.domains import icl_examples
from metasft.suites.snapshot import read_snapshot
from metasft.suites.turns import description_messages, object_icl_messages

log = logging.getLogger(__name__)


def uses_description(seed: int, train_domain: str, eval_domain: str, question_index: int,
                     description_fraction: float) -> bool:
    """Whether MetaSFT-NL's training prompt for (T, E, question) is T's description rather than ICL examples: a
    seeded draw per question (all its samples share the prompt), so the mix is `description_fraction` on average."""
    if description_fraction <= 0:
        return False
    return random.Random(f"nl-mix:{seed}:{train_domain}:{eval_domain}:{question_index}").random() < description_fraction


def meta_rows(suite, golden: pl.DataFrame, icl_k: int, seed: int, description_fraction: float = 0.0) -> pl.DataFrame:
    """One row per golden answer of a train_train pair: the ObjectICL prompt of (T, E, question) and the answer.

    The ICL examples are the same ones UntrainedICL and MetaSFT see for that (T, E, question). With
    `description_fraction` > 0 (MetaSFT-NL), that share of questions are asked with T's description instead
    (`uses_description`), the prompt the NL methods are sampled with.
    """
    rows = []
    golden = golden.filter(pl.col("quadrant") == "train_train").sort(
        "train_domain", "eval_domain", "question_index", "sample_index")
    for row in golden.iter_rows(named=True):
        t, e, qi = row["train_domain"], row["eval_domain"], row["question_index"]
        question = suite.domains[e].eval_questions[qi]
        described = uses_description(seed, t, e, qi, description_fraction)
        prompt = description_messages(suite.domains[t].description, question) if described else \
            object_icl_messages(icl_examples(suite.domains[t], icl_k, seed, e, qi), question)
        rows.append({"train_domain": t, "eval_domain": e, "question_index": qi, "sample_index": row["sample_index"],
                     "prompt": json.dumps(prompt), "completion": row["answer"], "described": described})
    return pl.DataFrame(rows, schema={"train_domain": pl.String, "eval_domain": pl.String,
                                      "question_index": pl.Int32, "sample_index": pl.Int32, "prompt": pl.String,
                                      "completion": pl.String, "described": pl.Boolean})


def meta_shards(suite_path, golden_paths: list[str], output, *, icl_k: int, seed: int,
                description_fraction: float = 0.0) -> pl.DataFrame:
    """Stages `meta_shards` and `meta_shards_nl`: the MetaSFT training set, one ObjectICL prompt per train_train
    golden answer (MetaSFT-NL: `description_fraction` of them asked with T's description instead)."""
    suite, _ = read_snapshot(suite_path)
    golden = read_parquets(golden_paths)
    table = meta_rows(suite, golden, icl_k, seed, description_fraction)
    if table.is_empty():
        raise ValueError("no train_train golden answers: the meta split has no meta_train domain")
    write_parquet(table, output)
    log.info("meta_shards: %d examples from %d pairs, %.0f%% with a description prompt", table.height,
             table.select("train_domain", "eval_domain").n_unique(), 100 * table["described"].mean())
    return table


def meta_train_seed(seed: int, round_index: int = 0, warm: bool = False) -> int:
    """The meta-model's training seed: the run's MetaSFT's, or a warm selection round's own (round > 0)."""
    return derived_seed(seed, "meta_train", "warm", round_index) if warm and round_index > 0 else \
        derived_seed(seed, "meta_train")


def meta_train(shards_path, output_dir, *, base_model: str, settings: dict, seed: int, threads: int = 1,
               chat: dict | None = None, init_adapter: str | None = None, round_index: int = 0) -> dict:
    """Stage `meta_train`: LoRA-train the base model on the MetaSFT set; the adapter is the meta-model.
    `init_adapter`: a live selection round's warm start, the round before's meta-model trained on (`round_index`
    seeds it as the selection replay does, metasft.selection.simulation)."""
    from metasft.models.loading import configure_torch, load_base
    from metasft.models.training import SFTSettings, lora_sft, prompt_completion_rows

    configure_torch(threads)
    table = read_parquet(shards_path)
    rows = prompt_completion_rows([json.loads(p) for p in table["prompt"]], table["completion"].to_list())
    model, tokenizer = load_base(base_model, chat=chat)
    warm = init_adapter is not None and round_index > 0
    summary = lora_sft(model, tokenizer, rows, settings_from(SFTSettings, settings, "meta_train"), output_dir,
                       meta_train_seed(seed, round_index, warm), init_adapter=init_adapter if warm else None)
    log.info("meta_train: loss %.3f over %d examples in %.1fs", summary["train_loss"], len(rows), summary["seconds"])
    return summary
