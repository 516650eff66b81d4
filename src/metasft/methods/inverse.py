"""Rule `inverse_likelihoods`: the forward methods' scores of every candidate train domain, for a chunk of eval domains.

For each eval domain E of the chunk, question q and half h of the split, the observed answers are the golden answers
of every (T, E) with T in h (`sample_index < answers_per_question`). Each method scores each distinct observed
answer once per candidate T' of h, after the prompt it predicts (T', E, q) with (`source_prompt`), and a pair's
score of T' is the sum over its observed answers: so a chunk costs |h| prompts x distinct answers per question and
half, not |h|^2 x answers. Ranking and the statistics are `metasft.analysis.inverse`.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict

import polars as pl

from metasft.methods.prompts import source_prompt
from metasft.sources import BY_NAME

log = logging.getLogger(__name__)

# The likelihood table of a chunk (rule inverse_likelihoods), which metasft.analysis.inverse ranks.
LIKELIHOOD_SCHEMA = {"method": pl.String, "eval_domain": pl.String, "train_domain": pl.String,
                     "candidate": pl.String, "loglik": pl.Float64, "n_answers": pl.Int64}


def observed_answers(golden: pl.DataFrame, answers_per_question: int) -> pl.DataFrame:
    """The golden answers inverse prediction observes: per pair and question, samples 0 .. answers_per_question-1."""
    return golden.filter(pl.col("sample_index") < answers_per_question)


def chunk_likelihoods(model, tokenizer, suite, split: dict[str, str], golden: pl.DataFrame, methods: list[str],
                      eval_domains: list[str], *, icl_k: int, seed: int, answers_per_question: int,
                      batch_tokens: int) -> pl.DataFrame:
    """Rows (method, eval_domain, train_domain, candidate, loglik, n_answers) for every eval domain of the chunk,
    method, and pair (T, E) with each candidate of T's half. `model` holds the adapters the methods name."""
    from metasft.generation.likelihood import prompts_answer_logprobs

    observed = observed_answers(golden.filter(pl.col("eval_domain").is_in(eval_domains)), answers_per_question)
    halves = defaultdict(list)
    for domain, half in split.items():
        halves[half].append(domain)
    loglik: dict[tuple, float] = defaultdict(float)
    counted: dict[tuple, int] = defaultdict(int)
    for eval_domain in eval_domains:
        of_eval = observed.filter(pl.col("eval_domain") == eval_domain)
        for (qi,), of_question in of_eval.group_by("question_index", maintain_order=True):
            for half, members in halves.items():
                rows = of_question.filter(pl.col("train_domain").is_in(members))
                counts = {t: Counter(zip(part["answer"].to_list(), part["finished"].to_list()))
                          for (t,), part in rows.group_by("train_domain")}
                distinct = sorted({a for c in counts.values() for a in c})
                for method in methods:
                    for t, c in counts.items():
                        counted[(method, eval_domain, t)] += sum(c.values())
                    prompts = [source_prompt(method, suite, candidate, eval_domain, qi, icl_k, seed)
                               for candidate in members]
                    scored = prompts_answer_logprobs(model, tokenizer, prompts, distinct,
                                                     adapter=BY_NAME[method].adapter, batch_tokens=batch_tokens)
                    for candidate, per_answer in zip(members, scored):
                        scores = dict(zip(distinct, per_answer))
                        for t, c in counts.items():
                            loglik[(method, eval_domain, t, candidate)] += sum(n * scores[a] for a, n in c.items())
        log.info("inverse likelihoods: %s done (%d methods)", eval_domain, len(methods))
    table = [{"method": m, "eval_domain": e, "train_domain": t, "candidate": c, "loglik": value,
              "n_answers": counted[(m, e, t)]} for (m, e, t, c), value in loglik.items()]
    return pl.DataFrame(table, schema=LIKELIHOOD_SCHEMA).sort("method", "eval_domain", "train_domain", "candidate")


def inverse_likelihoods(suite_path, golden_paths: list[str], output, *, base_model: str, adapters: dict[str, str],
                        methods: list[str], eval_domains: list[str], icl_k: int, seed: int,
                        answers_per_question: int, batch_tokens: int, threads: int = 1,
                        chat: dict | None = None) -> pl.DataFrame:
    """Rule `inverse_likelihoods`: load the base model with the meta-models' adapters once, score the chunk, write it."""
    from metasft.models.loading import configure_torch, load_with_adapters
    from metasft.pipeline.io import read_parquet, write_parquet
    from metasft.suites.snapshot import read_snapshot

    configure_torch(threads)
    suite, split = read_snapshot(suite_path)
    columns = ["train_domain", "eval_domain", "question_index", "sample_index", "answer", "finished"]
    golden = pl.concat([read_parquet(p, columns=columns) for p in golden_paths])
    model, tokenizer = load_with_adapters(base_model, adapters, chat)
    table = chunk_likelihoods(model, tokenizer, suite, split, golden, methods, eval_domains,
                              icl_k=icl_k, seed=seed, answers_per_question=answers_per_question,
                              batch_tokens=batch_tokens)
    write_parquet(table, output)
    return table
