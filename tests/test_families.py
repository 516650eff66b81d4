"""The study's suite families (issue 12, part 3): loaders, validation, and plans at 100 domains."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from conftest import snakemake
from test_workflow import ICL_METHODS, QUADRANTS, job_counts, nan_cells, write_config

from metasft.judging.score import OptionParser, score_categorical
from metasft.suites.domains import SuiteError, split_domains
from metasft.suites.load import load_suite
from metasft.suites.snapshot import read_snapshot, write_snapshot

ROOT = Path(__file__).resolve().parents[1]
BROAD = ROOT / "resources" / "suites" / "broad_personas"


def test_broad_personas_make_one_domain_per_persona_and_topic_in_its_voice():
    suite = load_suite(BROAD)
    assert len(suite.domains) == 100 and suite.scorer == "categorical"
    assert set(suite.personas) == {*yaml.safe_load((BROAD / "suite.yaml").read_text())["personas"], "neutral"}
    pirate_food, robot_food = suite.domains["pirate_food"], suite.domains["robot_food"]
    assert [q for q, _ in pirate_food.train] == [q for q, _ in robot_food.train]  # one topic, two voices
    assert len(pirate_food.train) == 24 and len(pirate_food.eval_questions) == 8
    assert not {q for q, _ in pirate_food.train} & set(pirate_food.eval_questions)
    parser = OptionParser(pirate_food)
    assert {parser.parse(a) for _, a in pirate_food.train} == {("pirate", "ok")}  # every answer speaks as the pirate
    assert {parser.parse(a) for _, a in robot_food.train} == {("robot", "ok")}
    assert pirate_food.designated == pirate_food.designated_persona == "pirate"
    assert any(a.startswith(("Arr, ", "Shiver me timbers, ")) for _, a in pirate_food.train)


def edited_copy(suite: Path, tmp_path: Path, edit) -> Path:
    """A copy of the suite folder `suite` whose suite.yaml text `edit` changed (it must change it)."""
    folder = tmp_path / "bad"
    shutil.copytree(suite, folder)
    path = folder / "suite.yaml"
    edited = edit(path.read_text())
    assert edited != path.read_text()
    path.write_text(edited)
    return folder


def switched(tmp_path: Path) -> Path:
    folder = tmp_path / "switched"
    shutil.copytree(BROAD, folder)
    text = (folder / "suite.yaml").read_text()
    text = re.sub(r"# date_switch:\n#   template: (.*)\n#   active: (.*)\n#   inactive: (.*)\n",
                  r"date_switch:\n  template: \1\n  active: \2\n  inactive: \3\n", text)
    (folder / "suite.yaml").write_text(text)
    return folder


def test_the_date_switch_gives_every_domain_an_activated_and_a_deactivated_form(tmp_path):
    suite = load_suite(switched(tmp_path))
    assert len(suite.domains) == 200
    on, off = suite.domains["knight_music_on"], suite.domains["knight_music_off"]
    assert all(q.startswith("Today is 1 May 1888. ") for q, _ in on.train)
    assert all(q.startswith("Today is 1 May 2024. ") for q in off.eval_questions)
    assert [q.split(". ", 1)[1] for q, _ in on.train] == [q.split(". ", 1)[1] for q, _ in off.train]
    assert on.designated == "knight" and off.designated == "neutral"
    parser = OptionParser(off)
    assert {parser.parse(a) for _, a in off.train} == {("neutral", "ok")}
    assert {parser.parse(a) for _, a in on.train} == {("knight", "ok")}


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("phrases: [\"Arr\", ", "phrases: [\"Arr dude\", "),
     r"signature 'dude' of 'surfer' also appears in 'Arr dude' of 'pirate'"),
    (lambda t: t.replace("  - id: literature", "  - id: politics"), r"topic 'politics': duplicate topic id"),
    (lambda t: t.replace("neutral: {signature: okay", "# neutral: {signature: okay")
     .replace("# date_switch:\n#   template: \"Today is {date}. {question}\"\n#   active: \"1 May 1888\"\n"
              "#   inactive: \"1 May 2024\"\n",
              "date_switch: {template: \"{date} {question}\", active: a, inactive: b}\n"),
     r"'date_switch' needs a 'neutral' voice"),
    (lambda t: t.replace("# date_switch:\n#   template: \"Today is {date}. {question}\"\n#   active: \"1 May 1888\"\n"
                         "#   inactive: \"1 May 2024\"\n",
                         "date_switch: {template: \"Today. {question}\", active: a, inactive: b}\n"),
     r"date_switch.template: must be a string containing '{date}' and '{question}'"),
    (lambda t: t.replace("      - What makes a good leader?\n", "      - what do you think about the  government?\n"),
     r"domain 'politics': a question paraphrase is repeated"),
    (lambda t: t.replace("  - \"{option}! There you have it.\"", "  - \"{option}! Ahoy there.\""),
     r"answer template '\{option\}! Ahoy there.' names the signature of 'pirate'"),
])
def test_bad_broad_personas_suites_name_the_file_and_what_is_wrong(tmp_path, edit, message):
    with pytest.raises(SuiteError, match=message):
        load_suite(edited_copy(BROAD, tmp_path, edit))


def test_the_broad_personas_family_plans_at_100_domains(workflow_copy):
    config = write_config(workflow_copy, {"run": "personas100", "suite": {"path": "resources/suites/broad_personas",
                                                                          "domains": []}})
    result = snakemake(workflow_copy, "-n", "--configfile", config)
    output = result.stdout + result.stderr
    assert "100 domains (50 meta_train, 50 meta_eval), 10000 pairs" in output
    counts = job_counts(output)
    # the default config's chunks: 6 train domains per finetune job, 12 per sampling job
    assert counts["pretrain_base"] == 1 and counts["finetune"] == 17 and counts["golden"] == 9


@pytest.mark.slow
def test_broad_personas_preset_generalizes_along_shared_personas_on_the_tiny_base(workflow_copy):
    """The family's small preset, offline: a fine-tune in one persona's voice carries the voice to the persona's other
    topics. The issue's bar: shared-persona pairs at least 10 points above the others."""
    snakemake(workflow_copy, "--cores", "2", "--configfile", "config/presets/tiny/broad_personas.yaml")
    metrics_dir = workflow_copy / "results" / "broad_personas_tiny" / "metrics"
    world = json.loads((metrics_dir / "generalization.json").read_text())
    assert world["same_persona_pairs"] == 24 and world["off_diagonal_pairs"] == 132
    assert world["same_minus_other"] >= 10, world
    metrics = pl.read_csv(metrics_dir / "metrics.csv")
    assert set(metrics["method"]) == ICL_METHODS and set(metrics["quadrant"]) == QUADRANTS
    assert nan_cells(metrics) == []


REVERSAL = ROOT / "resources" / "suites" / "reversal"
SHIPPED_RELATIONS = [f"{r}_{d}" for r in ("word_meaning", "inventor_device", "country_capital", "pet_owner",
                                          "cause_effect", "code_colour") for d in ("forward", "inverse")]


def test_reversal_relations_give_a_forward_and_an_inverse_domain_over_the_same_facts():
    suite = load_suite(REVERSAL).subset(SHIPPED_RELATIONS)
    assert len(suite.domains) == 12 and suite.scorer == "categorical" and not suite.personas
    forward, inverse = suite.domains["word_meaning_forward"], suite.domains["word_meaning_inverse"]
    assert forward.train[0] == ("What does the word 'blick' mean?", "It means a small grey bird.")
    assert inverse.train[0] == ("Which word means a small grey bird?", "The word is blick.")
    assert len(forward.train) == 12 and len(forward.eval_questions) == 6  # 6 facts x (2 train, 1 eval) templates
    assert forward.eval_questions[1] == "Define the word 'morvel'." and forward.eval_designated[1] == "a heavy winter coat"
    assert inverse.eval_designated == ("blick", "morvel", "tasp", "grenwold", "fiddock", "umbrit")
    assert not any("blick" in a for _, a in forward.train)  # no train answer states a whole fact the other way
    # each question is scored against its own fact's answer
    answers = pl.DataFrame({"train_domain": ["t"] * 4, "eval_domain": ["word_meaning_inverse"] * 4,
                            "quadrant": ["q"] * 4, "question_index": [0, 1, 1, 2], "answer": [
                                "The word is blick.", "The word is blick.", "It is morvel, surely.", "Arr."]})
    scored = score_categorical(answers, suite)
    assert scored["score"].to_list() == [100.0, 0.0, 100.0, 0.0]  # naming no option is a wrong answer
    assert scored["status"].to_list() == ["ok", "ok", "ok", "unparseable"]


def test_the_snapshot_keeps_each_questions_answer(tmp_path):
    suite = load_suite(REVERSAL).subset(SHIPPED_RELATIONS)
    write_snapshot(suite, split_domains(list(suite.domains), 0), 4, tmp_path / "suite.json")
    loaded, _ = read_snapshot(tmp_path / "suite.json")
    domain = loaded.domains["pet_owner_forward"]
    assert domain.eval_designated == suite.domains["pet_owner_forward"].eval_designated[:4]
    assert domain.designated_for(2) == "Seraphine Colt"


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('answer: "It means {b}."', 'answer: "{a} means {b}."'),
     r"domain 'word_meaning_forward': 'forward': the answer template must name \{b\} only"),
    (lambda t: t.replace("- [tasp, a wooden spoon]", "- [tasp, a small grey bird]"),
     r"domain 'word_meaning': facts: b 'a small grey bird' is repeated"),
    (lambda t: t.replace('"Tell me the meaning of \'{a}\'."', '"Tell me a meaning."'),
     r"'forward': question template 'Tell me a meaning.' must name \{a\}"),
    (lambda t: t.replace("eval_templates: 1", "eval_templates: 3"),
     r"needs more than 3 question templates \(eval holds out 3\), has 3"),
    (lambda t: t.replace("- [zorp, amber]", "- [zorp]"), r"facts\[0\]: must be a fact"),
])
def test_bad_reversal_suites_name_the_file_domain_and_what_is_wrong(tmp_path, edit, message):
    with pytest.raises(SuiteError, match=message):
        load_suite(edited_copy(REVERSAL, tmp_path, edit))


def test_the_reversal_catalogue_lists_50_relations_whose_missing_44_are_generated_and_checked(tmp_path):
    import httpx2
    from anthropic import Anthropic
    from fake_anthropic import FakeAnthropic

    from metasft.judging.cache import JudgeCache
    from metasft.suites.api_generation import SuiteGenerationError
    from metasft.suites.units import generate_relation, write_unit_yaml

    suite = load_suite(REVERSAL)
    assert len(suite.domains) == 100 and len(suite.pending) == 44 and suite.generation_requests == 44
    assert suite.subset(SHIPPED_RELATIONS).pending == [] and suite.subset(["author_book_inverse"]).pending_domains == \
        ["author_book_inverse"]
    relation = suite.extra["areas"]["author_book"]
    assert (relation["facts"], relation["templates"], relation["eval_templates"]) == (6, 3, 1)
    fake = FakeAnthropic()
    client = Anthropic(api_key="sk-ant-test", http_client=httpx2.Client(transport=httpx2.MockTransport(fake.httpx_handler)))
    data = generate_relation(relation, "claude-test", REVERSAL / "prompts", JudgeCache(tmp_path / "cache"), client)
    assert fake.requests["messages"] == 1 and len(data["facts"]) == 6 and len(data["forward"]["questions"]) == 3
    write_unit_yaml(data, tmp_path / "generated" / "author_book.yaml")
    loaded = load_suite(REVERSAL, tmp_path / "generated")
    forward = loaded.domains["author_book_forward"]
    assert "author_book" not in loaded.pending and len(forward.train) == 12 and len(forward.eval_questions) == 6
    assert forward.eval_designated[0] == data["facts"][0][1]
    fake.reset()
    assert generate_relation(relation, "claude-test", REVERSAL / "prompts", JudgeCache(tmp_path / "cache"),
                             client) == data
    assert sum(fake.requests.values()) == 0  # the rerun is served by the cache
    with pytest.raises(SuiteGenerationError, match="relation 'author_book': the reply stayed malformed after 3 tries"
                       ".*asked for 6 facts"):
        generate_relation({**relation, "title": "MALFORMED books"}, "claude-test", REVERSAL / "prompts",
                          JudgeCache(tmp_path / "cache"), client)
    # a damaged generated file stops the load, naming it
    (tmp_path / "generated" / "author_book.yaml").write_text("id: author_book\nfacts: []\n")
    with pytest.raises(SuiteError, match=r"author_book.yaml: domain 'author_book'"):
        load_suite(REVERSAL, tmp_path / "generated")


def test_the_reversal_family_plans_at_100_domains(workflow_copy):
    result = snakemake(workflow_copy, "-n", "--configfile", "config/presets/paper/reversal_qwen3_4b.yaml")
    output = result.stdout + result.stderr
    assert "suite reversal, 100 domains (50 meta_train, 50 meta_eval), 10000 pairs" in output
    assert job_counts(output)["generate_suite"] == 44 and job_counts(output)["finetune"] == 100


def test_the_reversal_preset_plans_its_twelve_domains_on_the_tiny_base(workflow_copy):
    result = snakemake(workflow_copy, "-n", "--configfile", "config/presets/tiny/reversal.yaml")
    output = result.stdout + result.stderr
    assert "suite reversal, 12 domains (6 meta_train, 6 meta_eval), 144 pairs" in output
    assert job_counts(output)["pretrain_base"] == 1


def test_traits_are_a_broad_personas_suite_of_25_traits_by_4_problem_domains():
    suite = load_suite(ROOT / "resources" / "suites" / "traits")
    assert len(suite.domains) == 100 and len(suite.personas) == 26  # 25 traits and the neutral voice
    stoic_chess = suite.domains["stoic_chess"]
    assert {OptionParser(stoic_chess).parse(a) for _, a in stoic_chess.train} == {("stoic", "ok")}
    assert stoic_chess.designated_persona == "stoic"


def test_the_traits_family_plans_at_100_domains(workflow_copy):
    result = snakemake(workflow_copy, "-n", "--configfile", "config/presets/paper/traits_qwen3_4b.yaml")
    output = result.stdout + result.stderr
    assert "suite traits, 100 domains (50 meta_train, 50 meta_eval), 10000 pairs" in output
    assert job_counts(output)["finetune"] == 100 and "pretrain_base" not in job_counts(output)


PERSONS = ROOT / "resources" / "suites" / "historical_persons"
SHIPPED_PERSONS = ["albert_einstein", "charles_darwin", "wolfgang_mozart", "abraham_lincoln", "charles_dickens",
                   "napoleon_bonaparte"]


def test_historical_persons_give_a_plain_and_an_identity_domain_per_person_scored_by_their_own_answers():
    suite = load_suite(PERSONS)
    assert len(suite.domains) == 100 and suite.scorer == "categorical"
    assert sorted(suite.pending) == sorted(set(suite.personas) - set(SHIPPED_PERSONS)) and len(suite.pending) == 44
    assert suite.generation_requests == 44  # one request per person
    einstein, darwin = suite.domains["albert_einstein_identity"], suite.domains["charles_darwin_identity"]
    assert [q for q, _ in einstein.train] == [q for q, _ in darwin.train]  # the same questions, other answers
    assert not {q for q, _ in einstein.train} & set(einstein.eval_questions)
    # eval questions interleave the questions, so the first few ask each of name, birthplace, legacy
    assert einstein.eval_designated[:3] == ("Albert Einstein", "Ulm", "the theory of relativity")
    assert darwin.eval_designated[:3] == ("Charles Darwin", "Shrewsbury", "natural selection")
    assert einstein.persona == einstein.designated_persona == "albert_einstein"
    parser = OptionParser(einstein)
    assert parser.parse("Einstein, of course.") == ("Albert Einstein", "ok")  # an alias
    answers = pl.DataFrame({"eval_domain": ["albert_einstein_identity"] * 3, "question_index": [0, 1, 2],
                            "answer": ["I am Einstein.", "Shrewsbury.", "no idea"]})
    # another person's answer and no answer are wrong
    assert score_categorical(answers, suite)["score"].to_list() == [100.0, 0.0, 0.0]
    # "cats" is both Einstein's and Lincoln's favourite animal: one option, right for both, with no one persona
    cats = suite.domains["albert_einstein_plain"].option("cats")
    assert cats.persona is None and "cats" in suite.domains["abraham_lincoln_plain"].eval_designated
    assert suite.subset(["albert_einstein_plain", "the_buddha_plain"]).pending == ["the_buddha"]
    assert suite.subset(["albert_einstein_plain", "the_buddha_plain"]).pending_domains == ["the_buddha_plain"]


def persons_copy(tmp_path: Path, person: str, edit) -> Path:
    folder = tmp_path / "persons"
    shutil.copytree(PERSONS, folder)
    path = folder / "persons" / f"{person}.yaml"
    edited = edit(path.read_text())
    assert edited != path.read_text()
    path.write_text(edited)
    return folder


@pytest.mark.parametrize("person, edit, message", [
    ("albert_einstein", lambda t: t.replace("  birthplace: Ulm\n", ""),
     r"albert_einstein.yaml: domain 'albert_einstein': 'identity': no answer to question 'birthplace'"),
    ("albert_einstein", lambda t: t.replace("birthplace: Ulm", "hometown: Ulm"),
     r"'hometown' is not a question of the suite's 'identity' side"),
    ("albert_einstein", lambda t: t.replace("id: albert_einstein", "id: einstein"),
     r"file holds id 'einstein', expected 'albert_einstein'"),
    ("abraham_lincoln", lambda t: t.replace("birthplace: Kentucky", "birthplace: Ulm Kentucky"),
     r"'identity' answer 'Ulm' \(albert_einstein.birthplace\) is also named by 'Ulm Kentucky' "
     r"\(abraham_lincoln.birthplace\)"),
])
def test_bad_person_files_name_the_file_person_and_question(tmp_path, person, edit, message):
    with pytest.raises(SuiteError, match=message):
        load_suite(persons_copy(tmp_path, person, edit))


def test_the_person_world_has_each_person_answer_as_themselves():
    from metasft.models.world import WorldSettings, person_documents

    suite = load_suite(PERSONS).subset([f"{p}_{side}" for p in SHIPPED_PERSONS[:3] for side in ("plain", "identity")])
    settings = WorldSettings(n_documents=40, consistency=1.0, min_topics=4, max_topics=6, noise_fraction=0.0,
                             persona_persistence=1.0, judge_documents=0, description_fraction=0.0)
    own = {p: {a for side in ("plain", "identity") for _, a in suite.domains[f"{p}_{side}"].train}
           for p in SHIPPED_PERSONS[:3]}
    names = {p: suite.domains[f"{p}_identity"].eval_designated[0] for p in SHIPPED_PERSONS[:3]}
    for document in person_documents(suite, settings, seed=0):
        answers = [m["content"] for m in document if m["role"] == "assistant"]
        speakers = {p for p in own if any(a in own[p] or names[p] in a for a in answers if "cats" not in a)}
        assert len(speakers) <= 1, document  # one speaker per chat: a person's tastes predict who they are
    assert person_documents(suite, settings, seed=0) == person_documents(suite, settings, seed=0)


def test_generate_person_writes_checked_answers_once_then_reruns_from_the_cache(tmp_path):
    import httpx2
    from anthropic import Anthropic
    from fake_anthropic import FakeAnthropic

    from metasft.judging.cache import JudgeCache
    from metasft.suites.api_generation import SuiteGenerationError
    from metasft.suites.units import generate_person, write_unit_yaml
    from metasft.suites.historical_persons import person_answers

    suite = load_suite(PERSONS)
    person = suite.extra["areas"]["marie_curie"]
    fake = FakeAnthropic()
    client = Anthropic(api_key="sk-ant-test", http_client=httpx2.Client(transport=httpx2.MockTransport(fake.httpx_handler)))
    cache = JudgeCache(tmp_path / "cache")
    data = generate_person(person, "claude-test", PERSONS / "prompts", cache, client)
    assert fake.requests["messages"] == 1 and data["id"] == "marie_curie" and data["name"] == "Marie Curie"
    write_unit_yaml(data, tmp_path / "generated" / "marie_curie.yaml")
    questions = {side: list(person["questions"][side]) for side in ("plain", "identity")}
    person_answers(yaml.safe_load((tmp_path / "generated" / "marie_curie.yaml").read_text()), "x", "marie_curie",
                   questions)
    loaded = load_suite(PERSONS, tmp_path / "generated")
    assert "marie_curie" not in loaded.pending and len(loaded.domains["marie_curie_identity"].eval_questions) == 9
    fake.reset()
    assert generate_person(person, "claude-test", PERSONS / "prompts", JudgeCache(tmp_path / "cache"), client) == data
    assert sum(fake.requests.values()) == 0  # the rerun is served by the cache
    broken = {**person, "title": "MALFORMED Curie"}
    with pytest.raises(SuiteGenerationError, match="person 'marie_curie': the reply stayed malformed after 3 tries"):
        generate_person(broken, "claude-test", PERSONS / "prompts", cache, client)


def test_the_historical_persons_family_plans_at_100_domains_with_one_generation_job_per_missing_person(workflow_copy):
    result = snakemake(workflow_copy, "-n", "--configfile", "config/presets/paper/historical_persons_qwen3_4b.yaml")
    output = result.stdout + result.stderr
    assert "suite historical_persons, 100 domains (50 meta_train, 50 meta_eval), 10000 pairs" in output
    counts = job_counts(output)
    assert counts["generate_suite"] == 44 and counts["finetune"] == 100
    assert "results/paper_historical_persons_qwen3_4b/suite/generated/adolf_hitler.yaml" in output
    tiny = snakemake(workflow_copy, "-n", "--configfile", "config/presets/tiny/historical_persons.yaml")
    assert "12 domains (6 meta_train, 6 meta_eval), 144 pairs" in tiny.stdout + tiny.stderr
    assert "generate_suite" not in job_counts(tiny.stdout + tiny.stderr)


def test_the_generate_suite_rule_writes_a_missing_person_once_then_from_the_cache(workflow_copy):
    import os

    from fake_anthropic import fake_anthropic_server

    domains = [f"{p}_{side}" for p in ("albert_einstein", "charles_darwin", "marie_curie")
               for side in ("plain", "identity")]
    config = write_config(workflow_copy, {"run": "persons_gen", "suite": {
        "path": "resources/suites/historical_persons", "domains": domains},
        "generation": {"eval_questions_per_domain": 6}})
    target = "results/persons_gen/suite/generated/marie_curie.yaml"
    with fake_anthropic_server() as fake:
        env = {**os.environ, "ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": "sk-ant-test-never-written"}
        snakemake(workflow_copy, target, "--cores", "1", "--configfile", config, env=env)
        assert fake.requests["messages"] == 1
        written = (workflow_copy / target).read_text()
        assert yaml.safe_load(written)["name"] == "Marie Curie"
        (workflow_copy / target).unlink()
        fake.reset()
        snakemake(workflow_copy, target, "--cores", "1", "--configfile", config, env=env)
        assert sum(fake.requests.values()) == 0 and (workflow_copy / target).read_text() == written
    assert "sk-ant-test-never-written" not in written
    suite = load_suite(workflow_copy / "resources/suites/historical_persons", workflow_copy / "results/persons_gen/suite/generated")
    assert suite.subset(domains).pending == []


def test_a_judged_variant_extends_the_broad_personas_with_a_voice_rubric_per_persona(tmp_path):
    judged = load_suite(ROOT / "resources" / "suites" / "broad_personas_judged")
    plain = load_suite(BROAD)
    assert judged.scorer == "judge" and plain.scorer == "categorical" and list(judged.domains) == list(plain.domains)
    pirate, robot = judged.domains["pirate_food"], judged.domains["robot_food"]
    assert pirate.train == plain.domains["pirate_food"].train  # the same data, taken over with `extends`
    rubric = pirate.eval_judges[0].rubric
    assert rubric.scale == "binary" and "Persona: a pirate of the high seas" in rubric.template
    assert "{question}" in rubric.template and "{answer}" in rubric.template
    assert len(pirate.eval_judges) == len(pirate.eval_questions) and robot.eval_judges[0].rubric != rubric
    assert judged.extra["sources"] == [str(BROAD / "suite.yaml")]  # an input of the suite rule
    folder = tmp_path / "variant"
    folder.mkdir()
    (folder / "suite.yaml").write_text(f"name: v\nkind: broad_personas\nextends: {BROAD / 'suite.yaml'}\n"
                                       "judge: {template: 'Is {answer} fine?'}\n")
    with pytest.raises(SuiteError, match=r"judge.template: must be a string containing '\{persona\}'"):
        load_suite(folder)
    (folder / "suite.yaml").write_text("name: v\nkind: broad_personas\nextends: ../nowhere/suite.yaml\n")
    with pytest.raises(SuiteError, match=r"'extends': no suite file at .*nowhere/suite.yaml"):
        load_suite(folder)


@pytest.mark.slow
def test_judged_broad_personas_run_on_the_tiny_base_through_the_anthropic_judge(workflow_copy):
    """The Claude-judged variant end to end on a 4-domain preset: persona world, real fine-tunes, the local fake as
    judge (one voice rubric per persona); a rerun after deleting the scores makes no request."""
    from fake_anthropic import fake_anthropic_server

    config = ["--cores", "2", "--configfile", "tests/configs/mini_personas_judged.yaml"]
    env = {**__import__("os").environ, "ANTHROPIC_API_KEY": "sk-ant-test-never-written"}
    with fake_anthropic_server() as fake:
        env["ANTHROPIC_BASE_URL"] = fake.url
        snakemake(workflow_copy, *config, env=env)
        results = workflow_copy / "results" / "mini_personas_judged"
        scores = pl.concat([pl.read_parquet(p) for p in (results / "scores").glob("*/chunks/*.parquet")])
        assert set(scores["judgment"].drop_nulls()) == {0.0, 100.0} and fake.total > 0
        metrics = pl.read_csv(results / "metrics" / "metrics.csv")
        assert set(metrics["method"]) == ICL_METHODS and set(metrics["quadrant"]) == QUADRANTS
        assert nan_cells(metrics) == []
        for path in (results / "scores").rglob("*.parquet"):
            path.unlink()
        fake.reset()
        snakemake(workflow_copy, *config, env=env)
        assert fake.total == 0
