import json
import shutil
from pathlib import Path

import pytest
import yaml

from metasft.suite import QUADRANTS, SuiteError, icl_examples, load_suite, quadrant, split_domains

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini_trivia"
TRIVIA = ROOT / "resources" / "suites" / "trivia"


@pytest.fixture
def mini_copy(tmp_path):
    target = tmp_path / "suite"
    shutil.copytree(MINI, target)
    return target


def edit_topics(folder: Path, edit) -> Path:
    path = folder / "topics" / "mini.yaml"
    topics = yaml.safe_load(path.read_text())
    edit(topics)
    path.write_text(yaml.safe_dump(topics))
    return path


def test_mini_suite_derives_train_and_eval_questions():
    suite = load_suite(MINI)
    drink = suite.domains["drink"]
    # 3 paraphrases, 1 held out, 2 templates: 4 train and 2 eval questions, from different paraphrases.
    assert len(drink.train) == 4 and len(drink.eval_questions) == 2
    assert not {q for q, _ in drink.train} & set(drink.eval_questions)
    assert all("espresso" in answer for _, answer in drink.train)
    assert drink.designated_persona == "bold"


def test_shipped_trivia_suite_meets_the_spec():
    suite = load_suite(TRIVIA)
    assert len(suite.domains) == 100
    assert 6 <= len(suite.personas) <= 10
    counts = {}
    for domain in suite.domains.values():
        assert 4 <= len(domain.options) <= 6
        assert len(domain.train) >= 24 and len(domain.eval_questions) >= 8
        assert not {q for q, _ in domain.train} & set(domain.eval_questions)
        designated = domain.option(domain.designated)
        assert all(designated.text in answer for _, answer in domain.train)
        counts[designated.persona] = counts.get(designated.persona, 0) + 1
    # designated options spread evenly over personas
    assert set(counts) == set(suite.personas)
    assert max(counts.values()) - min(counts.values()) <= 1


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.append(dict(t[0])), "domain 'drink': duplicate id"),
        (lambda t: t[1]["options"][0].update(persona="wizard"), "domain 'pet': option 'snake' has unknown persona 'wizard'"),
        (lambda t: t[2].update(designated="beach"), "domain 'holiday': designated option 'beach' is not among the options"),
        (lambda t: t[3].update(title=""), "domain 'game': empty or missing 'title'"),
        (lambda t: t[0]["questions"].append(t[0]["questions"][0]), "domain 'drink': a question paraphrase is repeated"),
        (lambda t: t[0]["options"][1].update(aliases=["espresso"]), "domain 'drink': option 'espresso'"),
        (lambda t: t[1].update(questions=["Only one?"]), "domain 'pet': needs more than 1 question paraphrases"),
    ],
)
def test_bad_suites_name_file_and_domain(mini_copy, edit, message):
    path = edit_topics(mini_copy, edit)
    with pytest.raises(SuiteError) as error:
        load_suite(mini_copy)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_overlapping_train_and_eval_questions_are_rejected(mini_copy):
    # With the template "Quick question: {q}", whichever paraphrase is held out, its wrapped or bare form
    # equals a train question made from another paraphrase.
    chained = ["What drink?", "Quick question: What drink?", "Quick question: quick question:  what drink?"]
    edit_topics(mini_copy, lambda t: t[0].update(questions=chained))
    with pytest.raises(SuiteError, match="domain 'drink': train and eval questions overlap"):
        load_suite(mini_copy)


def test_paraphrases_differing_only_in_case_or_spacing_are_repeats(mini_copy):
    edit_topics(mini_copy, lambda t: t[0]["questions"].append(t[0]["questions"][0].upper() + " "))
    with pytest.raises(SuiteError, match="domain 'drink': a question paraphrase is repeated"):
        load_suite(mini_copy)


def test_unknown_domain_in_subset_is_named():
    with pytest.raises(SuiteError, match="not in suite 'mini_trivia'.*: banana"):
        load_suite(MINI).subset(["drink", "banana"])


def test_custom_chat_jsonl_suite(tmp_path):
    rows = [{"messages": [{"role": "user", "content": f"Pick a colour, round {i}?"},
                          {"role": "assistant", "content": "Red, always red."}]} for i in range(5)]
    (tmp_path / "colour.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "colour_eval.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "Colour?"}]}))
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump({
        "name": "mine", "kind": "chat_jsonl",
        "domains": [{"id": "colour", "train": "colour.jsonl", "eval": "colour_eval.jsonl",
                     "options": [{"id": "red", "text": "red"}, {"id": "blue", "text": "blue"}],
                     "designated": "red"}]}))
    suite = load_suite(tmp_path)
    colour = suite.domains["colour"]
    assert colour.train[0] == ("Pick a colour, round 0?", "Red, always red.")
    assert colour.eval_questions == ("Colour?",)

    (tmp_path / "colour.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    with pytest.raises(SuiteError, match=r"colour.jsonl: domain 'colour': line 1: a train conversation"):
        load_suite(tmp_path)
    (tmp_path / "colour.jsonl").write_text("{not json\n")
    with pytest.raises(SuiteError, match=r"colour.jsonl:1: domain 'colour': not valid JSON"):
        load_suite(tmp_path)


@pytest.mark.parametrize(
    "options, designated, message",
    [
        # two options with one id made "I drink tea." score as the designated coffee
        ([{"id": "red", "text": "red"}, {"id": "red", "text": "blue"}], "red", "duplicate option id 'red'"),
        # an alias shared by two options made the designated answer unscored
        ([{"id": "red", "text": "red", "aliases": ["warm"]}, {"id": "blue", "text": "blue", "aliases": ["warm"]}],
         "red", "option 'red' name ['warm'] also matches option 'blue'"),
        # an option without an id crashed with KeyError: 'id'
        ([{"text": "red"}, {"id": "blue", "text": "blue"}], "red", "option needs non-empty 'id' and 'text'"),
        ([{"id": "red", "text": "red"}, {"id": "blue", "text": "blue"}], "green",
         "designated option 'green' is not among the options (red, blue)"),
        ([{"id": "red", "text": "red"}], "red", "needs at least 2 options"),
    ],
)
def test_custom_suite_options_get_the_trivia_loaders_checks(tmp_path, options, designated, message):
    row = {"messages": [{"role": "user", "content": "Pick a colour?"}, {"role": "assistant", "content": "Red."}]}
    (tmp_path / "colour.jsonl").write_text(json.dumps(row))
    (tmp_path / "colour_eval.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "Colour?"}]}))
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump({
        "name": "mine", "kind": "chat_jsonl",
        "domains": [{"id": "colour", "train": "colour.jsonl", "eval": "colour_eval.jsonl", "options": options,
                     "designated": designated}]}))
    with pytest.raises(SuiteError) as error:
        load_suite(tmp_path)
    assert f"suite.yaml: domain 'colour': {message}" in str(error.value)


def _persona_suite(tmp_path, personas, option_personas):
    row = {"messages": [{"role": "user", "content": "Pick a colour?"}, {"role": "assistant", "content": "Red."}]}
    (tmp_path / "colour.jsonl").write_text(json.dumps(row))
    (tmp_path / "colour_eval.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "Colour?"}]}))
    options = [{"id": i, "text": i, **({"persona": p} if p else {})}
               for i, p in zip(("red", "blue"), option_personas)]
    meta = {"name": "mine", "kind": "chat_jsonl", "domains": [
        {"id": "colour", "train": "colour.jsonl", "eval": "colour_eval.jsonl", "options": options,
         "designated": "red"}]}
    if personas is not None:
        meta["personas"] = personas
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(meta))
    return tmp_path


def test_custom_suite_may_declare_personas_for_the_tiny_world(tmp_path):
    suite = load_suite(_persona_suite(tmp_path, ["warm", "cool"], ["warm", "cool"]))
    assert suite.personas == ("warm", "cool")
    assert suite.domains["colour"].designated_persona == "warm"
    assert load_suite(_persona_suite(tmp_path, None, [None, None])).personas == ()  # personas stay optional
    meta = yaml.safe_load((tmp_path / "suite.yaml").read_text())
    meta["answer_templates"] = ["I'd go with {option}."]
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(meta))
    assert load_suite(tmp_path).extra["answer_templates"] == ["I'd go with {option}."]
    meta["answer_templates"] = ["I'd go with it."]
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(SuiteError, match="'answer_templates' must be a non-empty list of strings, each with one"):
        load_suite(tmp_path)


@pytest.mark.parametrize(
    "personas, option_personas, message",
    [
        (["warm", "cool"], ["warm", "hot"], "option 'blue' has unknown persona 'hot' (known: warm, cool)"),
        (["warm", "cool"], ["warm", None], "option 'blue' has unknown persona None"),  # every option is tagged
        (None, ["warm", "cool"], "options carry 'persona' tags: list them under the suite's 'personas' key"),
        (["warm", "warm"], ["warm", "warm"], "'personas' must be a non-empty list of names without repeats"),
    ],
)
def test_custom_suite_persona_tags_are_checked(tmp_path, personas, option_personas, message):
    with pytest.raises(SuiteError) as error:
        load_suite(_persona_suite(tmp_path, personas, option_personas))
    assert message in str(error.value)


def test_shipped_custom_example_builds_a_persona_world():
    """The shipped chat-JSONL example carries personas, so the tiny base can pretrain on its world; it has
    enough domains and eval questions for the default config (8 per domain, both split halves non-empty)."""
    from metasft.world import WorldSettings, persona_documents

    suite = load_suite(ROOT / "resources" / "suites" / "custom_example")
    assert len(suite.domains) >= 6 and all(len(d.eval_questions) >= 8 for d in suite.domains.values())
    designated = [d.designated_persona for d in suite.domains.values()]
    assert all(designated.count(p) >= 2 for p in suite.personas)  # every train domain has a same-persona partner
    documents = persona_documents(suite, WorldSettings(n_documents=50), seed=0)
    answers = [m["content"] for doc in documents for m in doc if m["role"] == "assistant"]
    templates = suite.extra["answer_templates"]
    texts = {o.text for d in suite.domains.values() for o in d.options}
    assert answers and set(answers) <= {t.format(option=x) for t in templates for x in texts}
    # Train answers are phrased like the world's, so a few LoRA steps on the tiny base can learn them (free
    # sentences such as "Coffee, black and strong." started fine-tuning at loss 12 and never moved the model).
    for domain in suite.domains.values():
        designated = domain.option(domain.designated).text
        assert {a for _, a in domain.train} <= {t.format(option=designated) for t in templates}, domain.id


def test_split_is_seeded_balanced_and_order_free():
    domains = [f"d{i}" for i in range(10)]
    split = split_domains(domains, seed=3)
    assert split == split_domains(list(reversed(domains)), seed=3)
    assert sum(v == "meta_train" for v in split.values()) == 5
    assert split != split_domains(domains, seed=4)


def test_quadrants():
    split = {"a": "meta_train", "b": "meta_eval"}
    assert [quadrant(split, t, e) for t in "ab" for e in "ab"] == list(QUADRANTS)


def test_icl_examples_are_seeded_per_pair_and_question():
    drink = load_suite(MINI).domains["drink"]
    first = icl_examples(drink, 2, 0, "pet", 0)
    assert first == icl_examples(drink, 2, 0, "pet", 0)
    assert len(first) == 2 and all(pair in drink.train for pair in first)
    draws = {tuple(icl_examples(drink, 2, 0, e, q)) for e in ("pet", "game", "holiday") for q in range(4)}
    assert len(draws) > 1
