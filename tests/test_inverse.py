"""Inverse prediction (issue 13 part 3): answer likelihoods, ranking statistics, the golden ceiling, the table."""

import math

import numpy as np
import polars as pl
import pytest

from conftest import ROOT
from metasft.analysis.inverse import (
    GOLDEN_PROPENSITY,
    chance_level,
    golden_loglik,
    inverse_table,
    pair_ranks,
    rank_statistics,
    with_golden_ceiling,
)
from metasft.pipeline.config import inverse_eval_domains, load_config
from metasft.pipeline.resources import chunk_domains, inverse_chunks

DOMAINS = ["dinner_cuisine", "morning_drink", "ideal_pet"]


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    """A random-init tiny Qwen3 with the project's tokenizer and two random LoRA adapters."""
    from conftest import random_trivia_base

    from metasft.models.loading import load_with_adapters
    from metasft.models.random import build_random_adapters

    folder = tmp_path_factory.mktemp("inverse")
    suite, base = random_trivia_base(folder, DOMAINS, max_position_embeddings=512)
    adapters = build_random_adapters(base, ["MetaSFT", "MetaSFT-NL"], folder / "adapters")
    model, tokenizer = load_with_adapters(base, adapters)
    return suite, model, tokenizer


def direct_logprob(model, tokenizer, messages, answer, finished, adapter):
    """The answer's log-probability from one plain forward pass over prompt + answer (no cache, no batching)."""
    import torch

    from metasft.generation.likelihood import adapter_active, completion_ids
    from metasft.models.chat import encode_chat, end_of_turn_id

    prompt = encode_chat(tokenizer, messages, add_generation_prompt=True)
    answer_ids = completion_ids(tokenizer, prompt, messages, answer, finished, end_of_turn_id(tokenizer))
    ids = torch.tensor([prompt + answer_ids])
    with torch.inference_mode(), adapter_active(model, adapter):
        logits = model(input_ids=ids).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(float(logprobs[len(prompt) - 1 + j, token]) for j, token in enumerate(answer_ids))


@pytest.mark.parametrize("adapter", [None, "MetaSFT", "MetaSFT-NL"])
def test_answer_logprobs_equal_a_direct_forward_pass(fixture, adapter):
    """Cached prefix, repeated cache, right-padded batches and the logits of answer positions only: the same numbers
    as one plain forward per answer, for the base model and each adapter, whatever the batch budget."""
    from metasft.generation.likelihood import answer_logprobs
    from metasft.methods.prompts import source_prompt

    suite, model, tokenizer = fixture
    messages = source_prompt("UntrainedICL", suite, "morning_drink", "dinner_cuisine", 0, 3, 0)
    answers = [("I'd go with Thai.", True), ("Greek, for sure, every single time.", True), ("Korean", False),
               ("", True)]
    expected = [direct_logprob(model, tokenizer, messages, a, f, adapter) for a, f in answers]
    for budget in (8, 64, 4096):  # one answer per batch up to all in one
        got = answer_logprobs(model, tokenizer, messages, answers, adapter=adapter, batch_tokens=budget)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert len(set(np.round(expected, 3))) == len(expected)  # the answers differ, so a mix-up would show


def test_many_prompts_of_different_lengths_share_a_batch(fixture):
    """Left-padded prompts of different lengths (0 to 4 examples; a description prompt), each with every answer:
    the same numbers as the direct computation, in one block or in many."""
    from metasft.generation.likelihood import prompts_answer_logprobs
    from metasft.methods.prompts import source_prompt

    suite, model, tokenizer = fixture
    prompts = [source_prompt("UntrainedICL", suite, t, "ideal_pet", 1, k, 0)
               for t, k in (("dinner_cuisine", 0), ("morning_drink", 4), ("ideal_pet", 2))]
    prompts.append(source_prompt("UntrainedNL", suite, "morning_drink", "ideal_pet", 1, 0, 0))
    assert len({len(str(p)) for p in prompts}) == 4
    answers = [("A cat.", True), ("I would love a loyal dog, honestly.", True), ("Fish", False)]
    expected = [[direct_logprob(model, tokenizer, m, a, f, "MetaSFT") for a, f in answers] for m in prompts]
    for budget in (16, 100, 100_000):
        got = prompts_answer_logprobs(model, tokenizer, prompts, answers, adapter="MetaSFT", batch_tokens=budget)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_an_adapter_changes_the_likelihoods(fixture):
    from metasft.generation.likelihood import answer_logprobs
    from metasft.methods.prompts import source_prompt

    suite, model, tokenizer = fixture
    messages = source_prompt("UntrainedICL", suite, "ideal_pet", "morning_drink", 1, 2, 0)
    answers = [("Tea.", True), ("Coffee, black.", True)]
    base = answer_logprobs(model, tokenizer, messages, answers, adapter=None)
    tuned = answer_logprobs(model, tokenizer, messages, answers, adapter="MetaSFT")
    assert not np.allclose(base, tuned, atol=1e-3)


def test_chunk_likelihoods_rank_like_a_direct_computation(fixture):
    """A hand-made golden table of 3 domains in one half: the chunk's summed scores of every (T, candidate) equal the
    direct per-answer log-probabilities summed over T's observed answers, and pair_ranks ranks candidates by them."""
    from metasft.methods.inverse import chunk_likelihoods
    from metasft.methods.prompts import source_prompt

    suite, model, tokenizer = fixture
    split = dict.fromkeys(DOMAINS, "meta_eval")
    answers = {"dinner_cuisine": ["Thai.", "Thai.", "Greek."], "morning_drink": ["Greek.", "Korean.", "Thai."],
               "ideal_pet": ["Mexican.", "Mexican.", "Mexican."]}
    golden = pl.DataFrame([
        {"train_domain": t, "eval_domain": "dinner_cuisine", "question_index": 0, "sample_index": s, "answer": a,
         "finished": True} for t, listed in answers.items() for s, a in enumerate(listed)])
    sources = {"UntrainedICL": None, "MetaSFT": "MetaSFT", "MetaSFT-to-NL": "MetaSFT"}  # by examples or description
    table = chunk_likelihoods(model, tokenizer, suite, split, golden, list(sources), ["dinner_cuisine"],
                              icl_k=2, seed=0, answers_per_question=2, batch_tokens=64)
    assert table.height == 3 * 3 * 3
    assert set(table["n_answers"]) == {2}  # sample 2 is held out
    for method, adapter in sources.items():
        expected = {}
        for t, listed in answers.items():
            for candidate in DOMAINS:
                messages = source_prompt(method, suite, candidate, "dinner_cuisine", 0, 2, 0)
                expected[(t, candidate)] = sum(direct_logprob(model, tokenizer, messages, a, True, adapter)
                                               for a in listed[:2])
        got = {(r["train_domain"], r["candidate"]): r["loglik"]
               for r in table.filter(pl.col("method") == method).iter_rows(named=True)}
        assert got.keys() == expected.keys()
        for key in expected:
            assert got[key] == pytest.approx(expected[key], abs=1e-3)
        ranks = pair_ranks(table.filter(pl.col("method") == method), split)
        for r in ranks.iter_rows(named=True):
            scores = [expected[(r["train_domain"], c)] for c in sorted(DOMAINS)]
            true = scores[sorted(DOMAINS).index(r["train_domain"])]
            assert r["rank"] == 1 + sum(s > true for s in scores)


def test_rank_statistics_by_hand():
    # true candidate second best: rank 2
    assert rank_statistics(np.array([-1.0, -3.0, -2.0, -5.0]), 2) == {"top1": 0.0, "top5": 1.0,
                                                                      "reciprocal_rank": 0.5, "rank": 2.0}
    # tied with one other for the lead: rank 1 or 2 with equal chance
    stats = rank_statistics(np.array([-1.0, -1.0, -4.0]), 1)
    assert stats["top1"] == 0.5 and stats["reciprocal_rank"] == pytest.approx(0.75) and stats["rank"] == 1.5
    # six candidates, true one last of seven ... with a nan candidate ranked below it
    scores = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, -1.0, np.nan])
    stats = rank_statistics(scores, 6)
    assert stats["rank"] == 7.0 and stats["top5"] == 0.0 and stats["reciprocal_rank"] == pytest.approx(1 / 7)
    # every candidate alike: exactly chance
    flat = rank_statistics(np.zeros(8), 3)
    chance = chance_level(8)
    assert flat["top1"] == chance["chance_top1"] == 1 / 8 and flat["top5"] == chance["chance_top5"] == 5 / 8
    assert flat["reciprocal_rank"] == pytest.approx(chance["chance_mrr"])
    assert chance["chance_mrr"] == pytest.approx(sum(1 / r for r in range(1, 9)) / 8)
    assert chance_level(3)["chance_top5"] == 1.0


def test_golden_ceiling_uses_held_out_propensities():
    """Observed samples 0-1 of M_T, propensities of each candidate from its samples 2-3 (Krichevsky-Trofimov)."""
    split = {"a": "meta_train", "b": "meta_train", "c": "meta_eval"}
    # c's second answer: a judge's refusal (no score, left out); d's: an answer naming no option (counts as 0)
    scores = {("a", "e"): [100, 100, 100, 0], ("b", "e"): [0, 100, 0, 0], ("c", "e"): [100, None, 0, 0],
              ("d", "e"): [100, "none", 0, 100]}
    split["d"] = "meta_eval"
    status = {None: "refusal", "none": "unparseable"}
    golden = pl.DataFrame([{"train_domain": t, "eval_domain": e, "sample_index": i,
                            "status": status.get(s, "ok") if not isinstance(s, int) else "ok",
                            "score": s if isinstance(s, int) else None}
                           for (t, e), listed in scores.items() for i, s in enumerate(listed)],
                          schema={"train_domain": pl.String, "eval_domain": pl.String, "sample_index": pl.Int64,
                                  "status": pl.String, "score": pl.Float64})
    table = golden_loglik(golden, split, answers_per_question=2)
    got = {(r["train_domain"], r["candidate"]): (r["loglik"], r["n_answers"]) for r in table.iter_rows(named=True)}
    p_a, p_b, p_c = (1 + 0.5) / 3, (0 + 0.5) / 3, (0 + 0.5) / 3
    assert got[("a", "a")] == (pytest.approx(2 * math.log(p_a)), 2)
    assert got[("a", "b")] == (pytest.approx(2 * math.log(p_b)), 2)
    assert got[("b", "a")] == (pytest.approx(math.log(1 - p_a) + math.log(p_a)), 2)
    assert got[("b", "b")] == (pytest.approx(math.log(1 - p_b) + math.log(p_b)), 2)
    p_d = (1 + 0.5) / 3
    assert got[("c", "c")] == (pytest.approx(math.log(p_c)), 1)  # the refused observed answer is left out
    assert got[("c", "d")] == (pytest.approx(math.log(p_d)), 1)
    assert got[("d", "d")] == (pytest.approx(math.log(p_d) + math.log(1 - p_d)), 2)  # no option: s = 0
    assert set(got) == {("a", "a"), ("a", "b"), ("b", "a"), ("b", "b"), ("c", "c"), ("c", "d"), ("d", "c"),
                        ("d", "d")}  # candidates from T's half only
    assert set(table["method"]) == {GOLDEN_PROPENSITY}


def test_inverse_eval_domains_are_a_seeded_sample_from_both_halves():
    split = {f"d{i:02d}": ("meta_train" if i % 10 < 7 else "meta_eval") for i in range(30)}  # 21 train, 9 eval
    config = load_config([])
    assert inverse_eval_domains(config, split) == list(split)  # null: every eval domain
    config["inverse"]["eval_domains"] = 10
    chosen = inverse_eval_domains(config, split)
    assert len(chosen) == 10 and chosen == [d for d in split if d in chosen]  # in the split's order
    assert sum(split[d] == "meta_train" for d in chosen) == 7  # in proportion: 10 x 21/30
    assert inverse_eval_domains(config, split) == chosen  # seeded: the same in every process
    assert inverse_eval_domains(config, dict(reversed(split.items()))) == chosen[::-1]  # not the listing order
    config["seed"] = 1
    assert inverse_eval_domains(config, split) != chosen
    # a lopsided split still gets pairs in all four quadrants, and the sample keeps its size
    lopsided = {f"d{i}": ("meta_eval" if i == 0 else "meta_train") for i in range(10)}
    config["inverse"]["eval_domains"] = 3
    chosen = inverse_eval_domains(config, lopsided)
    assert len(chosen) == 3 and "d0" in chosen
    config["inverse"]["eval_domains"] = 40
    assert inverse_eval_domains(config, split) == list(split)


def test_inverse_chunks_keep_the_sampling_jobs_or_cut_the_sample_as_many_ways():
    domains = [f"d{i}" for i in range(12)]
    sampling = chunk_domains(domains, 5)  # 3 jobs
    assert inverse_chunks(domains, sampling) == sampling
    assert inverse_chunks(domains[:7], sampling) == {"part000": domains[:3], "part001": domains[3:6],
                                                      "part002": domains[6:7]}
    assert inverse_chunks(domains[:2], sampling) == {"d0": ["d0"], "d1": ["d1"]}  # one a job: named by the domain
    assert inverse_chunks(["d3"], chunk_domains(domains, 1)) == {"d3": ["d3"]}


def test_the_golden_ceiling_ranks_only_the_eval_domains_the_methods_ranked():
    split = {"a": "meta_train", "b": "meta_train", "c": "meta_eval", "d": "meta_eval"}
    golden = pl.DataFrame([{"train_domain": t, "eval_domain": e, "sample_index": i, "status": "ok",
                            "score": 100.0 * (i % 2)}
                           for t in split for e in split for i in range(4)])
    forward = pl.DataFrame([{"method": "MetaSFT", "eval_domain": e, "train_domain": t, "candidate": c,
                             "loglik": -1.0 - (c != t), "n_answers": 2}
                            for e in ("a", "c") for t in split for c in split if split[c] == split[t]])
    ranks = pair_ranks(with_golden_ceiling(forward, golden, split, answers_per_question=2), split)
    for method in ("MetaSFT", GOLDEN_PROPENSITY):
        of_method = ranks.filter(pl.col("method") == method)
        assert of_method.height == 8 and set(of_method["eval_domain"]) == {"a", "c"}
    assert set(ranks["quadrant"]) == {"train_train", "eval_train", "train_eval", "eval_eval"}


def test_inverse_table_by_hand():
    """Two methods, four eval_eval pairs: means of the per-pair statistics, chance for 2 candidates, paired CIs."""
    split = {"a": "meta_eval", "b": "meta_eval"}
    rows = []
    # method X ranks the true T first in 3 of 4 pairs; method Y never does
    for method, right in (("UntrainedICL", {("a", "a"), ("a", "b"), ("b", "a")}), ("MetaSFT", set())):
        for t in "ab":
            for e in "ab":
                for c in "ab":
                    good = (c == t) == ((t, e) in right)
                    rows.append({"method": method, "eval_domain": e, "train_domain": t, "candidate": c,
                                 "loglik": -1.0 if good else -2.0, "n_answers": 4})
    ranks = pair_ranks(pl.DataFrame(rows), split)
    table = inverse_table(ranks, n_resamples=200, confidence=0.95, seed=0)
    x = table.filter(pl.col("method") == "UntrainedICL").row(0, named=True)
    y = table.filter(pl.col("method") == "MetaSFT").row(0, named=True)
    assert x["quadrant"] == "eval_eval" and x["n_pairs"] == 4 and x["n_candidates"] == 2
    assert x["top1"] == 0.75 and x["top5"] == 1.0 and x["mrr"] == pytest.approx((3 * 1 + 0.5) / 4)
    assert y["top1"] == 0.0 and y["mrr"] == 0.5
    assert x["chance_top1"] == 0.5 and x["chance_mrr"] == pytest.approx(0.75)
    assert 0.0 <= x["top1_lo"] <= 0.75 <= x["top1_hi"] <= 1.0 and x["top1_lo"] < x["top1_hi"]
    assert y["top1_lo"] == y["top1_hi"] == 0.0


def test_missing_candidate_is_an_error_naming_the_pair():
    split = {"a": "meta_eval", "b": "meta_eval"}
    rows = [{"method": "MetaSFT", "eval_domain": "a", "train_domain": "a", "candidate": "a", "loglik": -1.0,
             "n_answers": 2}]
    with pytest.raises(ValueError, match=r"MetaSFT for \(a, a\) lack candidates \['b'\].*inverse_likelihoods"):
        pair_ranks(pl.DataFrame(rows), split)


def test_source_prompt_matches_the_sampled_prompts():
    from metasft.methods.prompts import prompts_of, source_prompt
    from metasft.suites.load import load_suite

    suite = load_suite(ROOT / "resources/suites/trivia").subset(DOMAINS)
    for source in ("golden", "UntrainedICL", "MetaSFT", "UntrainedNL", "MetaSFT-to-NL", "MetaSFT-NL"):
        for t in DOMAINS:
            for e, qi, messages in prompts_of(source)(suite, t, 3, 7):
                assert source_prompt(source, suite, t, e, qi, 3, 7) == messages
