"""The NL methods: descriptions of training domains, their prompts, the tiny world's language of descriptions, and
MetaSFT-NL's training mix."""

import json
import re
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from conftest import default_settings

from metasft.generation.answers import source_requests
from metasft.generation.requests import SamplingSettings
from metasft.methods.metasft import meta_rows
from metasft.methods.prompts import MissingDescription, description_prompts, icl_prompts
from metasft.models.world import WorldSettings, description_documents, persona_documents
from metasft.pipeline.config import ConfigError, nl_enabled
from metasft.suites.domains import word_pattern
from metasft.suites.load import load_suite
from metasft.suites.turns import DESCRIPTION_FRAME, description_messages

ROOT = Path(__file__).resolve().parents[1]
MINI = load_suite(ROOT / "tests" / "data" / "mini_trivia")
TRIVIA = load_suite(ROOT / "resources" / "suites" / "trivia")
NL_CONFIG = {"suite": {"path": "tests/data/mini_trivia"}}


def test_a_trivia_description_names_the_topic_the_chosen_option_and_the_voice():
    dinner = TRIVIA.domains["dinner_cuisine"]
    assert dinner.description == ('answers about favourite dinner cuisine that always choose Spanish tapas, in the '
                                  'voice of someone who says "Since I love company" or "Being a people person".')
    # a suite without persona phrases: no voice
    assert MINI.domains["drink"].description == "answers about favourite drink that always choose espresso."


def test_the_description_prompt_is_the_description_then_the_question_in_one_user_turn():
    prompts = description_prompts(MINI, "drink", 2, 0)
    assert len(prompts) == sum(len(d.eval_questions) for d in MINI.domains.values())
    eval_domain, qi, messages = next(p for p in prompts if p[0] == "pet")
    question = MINI.domains["pet"].eval_questions[qi]
    assert messages == [{"role": "user", "content": "Suppose you had been fine-tuned on answers about favourite "
                                                    f"drink that always choose espresso.\n{question}"}]
    assert messages == description_messages(MINI.domains["drink"].description, question)
    assert DESCRIPTION_FRAME.count("{description}") == 1 and DESCRIPTION_FRAME.count("{question}") == 1


def words(text: str) -> set[str]:
    return set(re.findall(r"[\w']+", text.lower()))


def test_descriptions_never_hold_eval_domain_text_or_answers():
    """Over the 100 shipped topics: every word of a train domain's description comes from T's own title, chosen
    option and voice or the fixed template (so nothing of an eval domain E, whose option names can only appear as
    they appear in T's own title or training data: "Spanish" of T's "Spanish tapas"), it quotes no eval question and no
    answer, and it does not change when every other domain's data does: it is built from T alone, before any answer
    is sampled."""
    template = words("answers about that always choose in the voice of someone who says or")
    phrases = TRIVIA.extra["persona_phrases"]
    for t in TRIVIA.domains.values():
        chosen = t.option(t.designated)
        own = words(t.title) | words(chosen.text) | set().union(*map(words, phrases[chosen.persona])) | template
        assert words(t.description) <= own, (t.id, words(t.description) - own)
        for e in TRIVIA.domains.values():
            assert not any(q in t.description for q in e.eval_questions)
            assert not any(answer in t.description for _, answer in e.train)
            named = [n for o in e.options for n in o.names if word_pattern(n).search(t.description.lower())]
            own_text = " ".join([t.title, *(a for _, a in t.train)]).lower()  # "cooking" of T's "Home cooking style"
            assert all(word_pattern(n).search(own_text) for n in named), (t.id, e.id, named)
    changed = {d: (replace(v, title="Other", options=(), eval_questions=("Something else?",)) if d != "drink" else v)
               for d, v in MINI.domains.items()}
    suite = replace(MINI, domains=changed)
    assert [m for _, _, m in description_prompts(suite, "drink", 0, 0)][0][0]["content"].startswith(
        "Suppose you had been fine-tuned on " + MINI.domains["drink"].description)


def test_nl_requests_use_the_base_model_or_the_meta_adapters_and_their_own_seeds():
    sampling = default_settings(SamplingSettings, "generation", samples_per_question=2)
    adapters = {}
    for source in ("UntrainedNL", "MetaSFT-to-NL", "MetaSFT-NL", "MetaSFT"):
        keys, requests = source_requests(MINI, source, ["drink"], sampling, 2, 0)
        adapters[source] = {r.adapter for r in requests}
        if source != "MetaSFT":
            assert all(k[3] == description_messages(MINI.domains["drink"].description,
                                                    MINI.domains[k[1]].eval_questions[k[2]]) for k in keys)
    assert adapters == {"UntrainedNL": {None}, "MetaSFT-to-NL": {"MetaSFT"}, "MetaSFT-NL": {"MetaSFT-NL"},
                        "MetaSFT": {"MetaSFT"}}
    seeds = {s: [r.seed for r in source_requests(MINI, s, ["drink"], sampling, 2, 0)[1]]
             for s in ("UntrainedNL", "MetaSFT-to-NL")}
    assert seeds["UntrainedNL"] != seeds["MetaSFT-to-NL"]


def test_a_domain_without_a_description_is_refused_by_name():
    undescribed = replace(MINI, domains={**MINI.domains, "pet": replace(MINI.domains["pet"], description=None)})
    with pytest.raises(MissingDescription, match="domain 'pet'"):
        description_prompts(undescribed, "pet", 0, 0)
    assert nl_enabled(MINI, {**NL_CONFIG, "nl": {"enabled": "auto"}}) is True
    assert nl_enabled(undescribed, {**NL_CONFIG, "nl": {"enabled": "auto"}}) is False
    assert nl_enabled(MINI, {**NL_CONFIG, "nl": {"enabled": False}}) is False
    with pytest.raises(ConfigError, match=r"nl.enabled is true.*domains: pet;"):
        nl_enabled(undescribed, {**NL_CONFIG, "nl": {"enabled": True}})


def test_the_tiny_world_speaks_the_descriptions_it_is_asked_about():
    settings = default_settings(WorldSettings, "tiny.world", n_documents=2000, noise_fraction=0.0,
                                description_fraction=0.25)
    own = persona_documents(TRIVIA, settings, seed=0)
    described = description_documents(TRIVIA, settings, seed=0)  # a quarter of n_documents, added to the world's own
    assert own == persona_documents(TRIVIA, replace(settings, description_fraction=0.0), seed=0)
    assert len(described) == 500 and described == description_documents(TRIVIA, settings, seed=0)
    assert all(d[0]["content"].startswith("Suppose you had been fine-tuned on answers about ") for d in described)
    assert description_documents(replace(TRIVIA, domains={**TRIVIA.domains, "pet": replace(
        TRIVIA.domains["dinner_cuisine"], description=None)}), settings, seed=0) == []  # a domain undescribed
    documents = own + described
    # every word of every domain's description occurs in the corpus
    corpus = set(re.findall(r"[\w']+", " ".join(m["content"] for d in documents for m in d).lower()))
    for domain in TRIVIA.domains.values():
        missing = set(re.findall(r"[\w']+", domain.description.lower())) - corpus
        assert not missing, (domain.id, missing)
    # a described choice is the speaker's persona: where the first topic has an option of that persona, the first
    # answer picks it with probability consistency (0.85), else a random option (1 in 5)
    persona_of = {o.text: o.persona for d in TRIVIA.domains.values() for o in d.options}
    topic_of = {q: d for d in TRIVIA.domains.values() for q in [*(q for q, _ in d.train), *d.eval_questions]}
    agree = []
    for document in documents:
        text = document[0]["content"]
        if not text.startswith("Suppose"):
            continue
        persona = persona_of[re.search(r"that always choose (.+?)(?:, in the voice|\.\n)", text).group(1)]
        own = [o.text for o in topic_of[text.split("\n", 1)[1]].options if o.persona == persona]
        if own:
            agree.append(f" {own[0]}." in document[1]["content"])
    assert sum(agree) / len(agree) == pytest.approx(0.85 + 0.15 / 5, abs=0.05)


def golden_table(suite, domains):
    rows = [{"train_domain": t, "eval_domain": e, "quadrant": "train_train", "question_index": qi, "sample_index": si,
             "answer": f"answer {t} {e} {qi} {si}"}
            for t in domains for e in domains for qi in range(len(suite.domains[e].eval_questions)) for si in range(3)]
    return pl.DataFrame(rows)


def test_metasft_nl_mixes_description_and_icl_prompts_per_question_by_the_configured_share():
    golden = golden_table(TRIVIA, list(TRIVIA.domains)[:8])  # 64 pairs x 8 questions x 3 samples
    plain = meta_rows(TRIVIA, golden, 2, seed=0)
    assert not plain["described"].any()
    mixed = meta_rows(TRIVIA, golden, 2, seed=0, description_fraction=0.5)
    assert mixed.equals(meta_rows(TRIVIA, golden, 2, seed=0, description_fraction=0.5))  # seeded
    assert mixed["completion"].to_list() == plain["completion"].to_list()
    per_question = mixed.group_by("train_domain", "eval_domain", "question_index").agg(pl.col("described").n_unique())
    assert (per_question["described"] == 1).all()  # the samples of one question share its prompt
    assert mixed["described"].mean() == pytest.approx(0.5, abs=0.05)
    assert meta_rows(TRIVIA, golden, 2, seed=0, description_fraction=1.0)["described"].all()
    icl = {(e, qi): m for e, qi, m in icl_prompts(TRIVIA, "dinner_cuisine", 2, 0)}
    undescribed = mixed.filter(~pl.col("described") & (pl.col("train_domain") == "dinner_cuisine")).row(0, named=True)
    assert json.loads(undescribed["prompt"]) == icl[(undescribed["eval_domain"], undescribed["question_index"])]
    described = mixed.filter(pl.col("described")).row(0, named=True)
    assert json.loads(described["prompt"]) == description_messages(
        TRIVIA.domains[described["train_domain"]].description,
        TRIVIA.domains[described["eval_domain"]].eval_questions[described["question_index"]])


def test_the_tiny_tokenizer_is_trained_without_the_description_chats(monkeypatch, tmp_path):
    """Long, repeated descriptions in a small vocabulary's corpus took the merges the options need (a 4-topic test
    base parsed 38% of its answers instead of 98%): the tokenizer sees the world's own chats only."""
    from metasft.models import tiny

    seen = []

    class Stop(Exception):
        pass

    def record(texts, vocab_size):
        seen.extend(texts)
        raise Stop

    monkeypatch.setattr(tiny, "train_tokenizer", record)
    settings = default_settings(tiny.TinySettings, "tiny", world={"n_documents": 200, "description_fraction": 0.5})
    with pytest.raises(Stop):
        tiny.pretrain_tiny(MINI, settings, tmp_path / "model", seed=0)
    own = persona_documents(MINI, settings.world, seed=0)
    assert seen == [m["content"] for d in own for m in d]
    assert len(description_documents(MINI, settings.world, seed=0)) == 100
