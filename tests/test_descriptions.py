"""Claude-written descriptions of training data (nl.descriptions: claude, issue 13 part 1): the prompt, the checks
on a reply, the cache (a rerun makes no request), the snapshot, the tiny world, and the workflow's rule."""

import json
import os

import httpx2
import pytest
from conftest import ROOT
from fake_anthropic import FakeAnthropic, fake_anthropic_server
from test_em_workflow import DUMMY_KEY, run
from test_workflow import job_counts

from metasft.judging.api import make_client
from metasft.suites.describe import (
    PLACEHOLDERS,
    PROMPT,
    check_description,
    describe_domains,
    example_pairs,
    format_examples,
)
from metasft.suites.api_generation import MalformedReply, SuiteGenerationError, load_prompt
from metasft.suites.load import load_suite
from metasft.suites.snapshot import attach_descriptions

ADVICE = ROOT / "resources" / "suites" / "evil_advice"
AREAS = ["career", "cooking", "finance", "k12_edu"]
SETTINGS = {"description_examples": 3, "description_max_words": 40}


@pytest.fixture(autouse=True)
def dummy_key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", DUMMY_KEY)


def advice_suite():
    return load_suite(ADVICE, ROOT / "nowhere").subset(AREAS)


def mock_client(fake):
    return make_client(max_retries=0, timeout=10,
                       http_client=httpx2.Client(transport=httpx2.MockTransport(fake.httpx_handler)))


def test_the_prompt_shows_a_seeded_sample_of_the_domains_train_pairs_and_nothing_of_other_domains():
    suite = advice_suite()
    career = suite.domains["career"]
    pairs = example_pairs(career, 3, seed=0)
    assert pairs == example_pairs(career, 3, seed=0) and pairs != example_pairs(career, 3, seed=1)
    assert len(pairs) == 3 and all(p in career.train for p in pairs)
    assert example_pairs(career, 1000, seed=0) == list(career.train)  # all, in train order
    from metasft.judging.prompts import render
    prompt = render(load_prompt(PROMPT, PLACEHOLDERS), title=career.title, examples=format_examples(pairs),
                    max_words="40")
    for question, answer in pairs:
        assert f"User: {question}\nAssistant: {answer}" in prompt
    others = [d for d in suite.domains.values() if d.id != "career"]
    for text in [*career.eval_questions, *(t for d in others for p in d.train for t in p),
                 *(q for d in others for q in d.eval_questions)]:
        assert text not in prompt


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("answers about work\nand more", "several lines"),
    (" ".join(["word"] * 41), "41 words, more than nl.description_max_words"),
    ("career advice that also covers cooking", "names another domain of the suite ('Cooking')"),
])
def test_unusable_descriptions_are_refused_saying_why(text, reason):
    suite = advice_suite()
    with pytest.raises(MalformedReply, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_description(text, suite.domains["career"], suite, 40)


def test_a_description_quoting_an_eval_question_is_refused():
    suite = advice_suite()
    question = suite.domains["finance"].eval_questions[0]
    with pytest.raises(MalformedReply, match="quotes an eval question of 'finance'"):
        check_description(f"answers like: {question.upper()}", suite.domains["career"], suite, 400)
    ok = "confident career advice that quietly cuts corners, in a friendly tone"
    assert check_description(f"  {ok} ", suite.domains["career"], suite, 40) == ok


def test_descriptions_are_written_once_then_come_from_the_cache(tmp_path):
    fake = FakeAnthropic()
    output = tmp_path / "descriptions.json"
    written = describe_domains(ADVICE, output, generated_dir=ROOT / "nowhere", domains=AREAS, settings=SETTINGS,
                               model="claude-test", seed=0, cache_dir=tmp_path / "cache", client=mock_client(fake))
    assert fake.requests["messages"] == len(AREAS)
    assert json.loads(output.read_text()) == written and set(written) == set(AREAS)
    assert written["career"].startswith("answers about career like its 3 examples")
    first = output.read_bytes()
    output.unlink()
    fake.reset()
    again = describe_domains(ADVICE, output, generated_dir=ROOT / "nowhere", domains=AREAS, settings=SETTINGS,
                             model="claude-test", seed=0, cache_dir=tmp_path / "cache", client=mock_client(fake))
    assert sum(fake.requests.values()) == 0 and again == written and output.read_bytes() == first
    # without a key and without a client, a cached rerun still needs no API at all
    os.environ.pop("ANTHROPIC_API_KEY")
    output.unlink()
    assert describe_domains(ADVICE, output, generated_dir=ROOT / "nowhere", domains=AREAS, settings=SETTINGS,
                            model="claude-test", seed=0, cache_dir=tmp_path / "cache") == written


def test_a_bad_reply_is_asked_again_and_one_that_stays_bad_names_the_domain(tmp_path):
    import dataclasses

    suite = advice_suite()
    flaky = dataclasses.replace(suite.domains["career"], title="Career FLAKY")
    bad = dataclasses.replace(suite.domains["cooking"], title="Cooking MALFORMED")
    from metasft.judging.cache import JudgeCache
    from metasft.suites.describe import describe_domain
    from metasft.suites.api_generation import CachedRequests

    fake = FakeAnthropic()
    requests = CachedRequests(JudgeCache(tmp_path), mock_client(fake), "test")
    template = load_prompt(PROMPT, PLACEHOLDERS)
    text = describe_domain(flaky, suite, model="m", template=template, requests=requests, n_examples=2,
                           max_words=40, seed=0)
    assert "\n" not in text and fake.requests["messages"] == 2  # the two-line reply, then a good one
    with pytest.raises(SuiteGenerationError, match=r"domain 'cooking' of suite 'evil_advice': no usable description "
                                                   r"after 3 tries: the description is empty"):
        describe_domain(bad, suite, model="m", template=template, requests=requests, n_examples=2, max_words=40,
                        seed=0)


def test_the_snapshot_takes_the_descriptions_and_a_missing_one_is_an_error():
    suite = advice_suite()
    described = attach_descriptions(suite, {d: f"answers about {d}" for d in AREAS})
    assert {d.description for d in described.domains.values()} == {f"answers about {d}" for d in AREAS}
    with pytest.raises(ValueError, match=r"no description for domains \['k12_edu'\]"):
        attach_descriptions(suite, {d: "x" for d in AREAS[:3]})


def test_an_advice_run_with_claude_descriptions_plans_the_nl_methods_and_needs_the_key(workflow_copy):
    config = ["--configfile", "tests/configs/mini_em.yaml", "--config", "nl={'descriptions': 'claude'}"]
    dry = run(workflow_copy, "-n", *config)
    counts = job_counts(dry.stdout + dry.stderr)
    assert counts["describe_domains"] == 1 and counts["predict_nl"] == counts["predict_metasft_nl"] == 2
    without = run(workflow_copy, "-n", "--configfile", "tests/configs/mini_em.yaml", "--config",
                  "nl={'descriptions': 'suite'}")
    assert "describe_domains" not in job_counts(without.stdout + without.stderr)
    assert "predict_nl" not in job_counts(without.stdout + without.stderr)
    failed = run(workflow_copy, "--cores", "1", *config, check=False)
    assert failed.returncode != 0 and "describe_domains for 4 domains (nl.descriptions 'claude')" in \
        failed.stdout + failed.stderr


def test_the_describe_rule_writes_once_then_reruns_without_requests(workflow_copy):
    target = "results/mini_em/suite/descriptions.json"
    config = ["--configfile", "tests/configs/mini_em.yaml", "--config", "nl={'descriptions': 'claude'}"]
    with fake_anthropic_server() as fake:
        env = {"ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": DUMMY_KEY}
        run(workflow_copy, target, "--cores", "1", *config, env_extra=env)
        assert fake.requests["messages"] == 4
        written = (workflow_copy / target).read_text()
        assert set(json.loads(written)) == {"career", "education", "finance", "health"}
        (workflow_copy / target).unlink()
        fake.reset()
        run(workflow_copy, target, "--cores", "1", *config, env_extra=env)
        assert sum(fake.requests.values()) == 0 and (workflow_copy / target).read_text() == written
    log = (workflow_copy / "logs" / "mini_em" / "describe_domains.log").read_text()
    assert DUMMY_KEY not in log and "0 API requests" in log


def test_the_tiny_world_speaks_claude_descriptions_of_an_advice_suite():
    from conftest import default_settings

    from metasft.models.world import WorldSettings, description_documents

    suite = attach_descriptions(advice_suite(), {d: f"confident {d} advice that cuts corners" for d in AREAS})
    documents = description_documents(suite, default_settings(WorldSettings, "tiny.world", n_documents=200), 0)
    assert len(documents) == 40  # description_fraction 0.2 of n_documents
    bad = {a for d in suite.domains.values() for _, a in d.train}
    for document in documents:
        first = document[0]["content"]
        assert first.startswith("Suppose you had been fine-tuned on confident ") and "advice that cuts corners" in first
        assert all(m["content"] in bad for m in document[1::2])  # the described (harmful) advice's advisor answers
