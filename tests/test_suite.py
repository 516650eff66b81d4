import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import default_settings

from metasft.suites.domains import (
    QUADRANTS,
    SuiteError,
    icl_examples,
    quadrant,
    split_domains,
)
from metasft.suites.load import load_suite

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
        (lambda t: t[3].update(title=""), "domain 'game': title: must be a non-empty string, got ''"),
        (lambda t: t[0]["questions"].append(t[0]["questions"][0]), "domain 'drink': a question paraphrase is repeated"),
        (lambda t: t[0]["options"][1].update(aliases=["espresso"]), "domain 'drink': option 'espresso'"),
        (lambda t: t[1].update(questions=["Only one?"]), "domain 'pet': needs more than 1 question paraphrases"),
        # the topics schema (schemas/topics.yaml): a misspelt key used to be ignored
        (lambda t: t[2].update(titel="Holiday"),
         "domain 'holiday': unknown key 'titel' (allowed: id, title, questions, options, designated)"),
        (lambda t: t[1]["options"][2].update(alias=["polly"]),
         "domain 'pet': options[2]: unknown key 'alias' (allowed: id, text, aliases, persona)"),
        # an option without an id crashed with KeyError: 'id' (no file named) before the shared option checks
        (lambda t: t[0]["options"][1].pop("id"), "domain 'drink': options[1]: missing key 'id'"),
        # unquoted `no` is YAML's false
        (lambda t: t[0]["options"][0].update(id=False),
         "domain 'drink': options[0].id: must be a non-empty string, got False (YAML reads unquoted yes/no"),
        (lambda t: t[3].update(questions="What game?"), "domain 'game': questions: must be a list, got 'What game?'"),
        (lambda t: t[3].update(id="Game"), "domain 'Game': id: must be lower-case letters, digits and underscores"),
        (lambda t: t.append("stray"), "[4]: must be a topic: a mapping with keys id, title, questions, options"),
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
    with pytest.raises(SuiteError, match=r"colour.jsonl:1: domain 'colour': a train conversation"):
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
        ([{"text": "red"}, {"id": "blue", "text": "blue"}], "red", "options[0]: missing key 'id'"),
        ([{"id": "red", "text": "red", "colour": "#f00"}, {"id": "blue", "text": "blue"}], "red",
         "options[0]: unknown key 'colour' (allowed: id, text, aliases, persona)"),
        ([{"id": "red", "text": "red"}, {"id": "blue", "text": "blue"}], "green",
         "designated option 'green' is not among the options (red, blue)"),
        ([{"id": "red", "text": "red"}], "red", "options: must list at least 2 entries, got 1"),
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
    with pytest.raises(SuiteError, match=r"answer_templates\[0\]: must be a string containing '\{option\}'"):
        load_suite(tmp_path)


@pytest.mark.parametrize(
    "personas, option_personas, message",
    [
        (["warm", "cool"], ["warm", "hot"], "option 'blue' has unknown persona 'hot' (known: warm, cool)"),
        (["warm", "cool"], ["warm", None], "option 'blue' has unknown persona None"),  # every option is tagged
        (None, ["warm", "cool"], "options carry 'persona' tags: list them under the suite's 'personas' key"),
        (["warm", "warm"], ["warm", "warm"], "personas: has a repeated entry"),
    ],
)
def test_custom_suite_persona_tags_are_checked(tmp_path, personas, option_personas, message):
    with pytest.raises(SuiteError) as error:
        load_suite(_persona_suite(tmp_path, personas, option_personas))
    assert message in str(error.value)


def test_shipped_custom_example_builds_a_persona_world():
    """The shipped chat-JSONL example carries personas, so the tiny base can pretrain on its world; it has
    enough domains and eval questions for the default config (8 per domain, both split halves non-empty)."""
    from metasft.models.world import WorldSettings, persona_documents

    suite = load_suite(ROOT / "resources" / "suites" / "custom_example")
    assert len(suite.domains) >= 6 and all(len(d.eval_questions) >= 8 for d in suite.domains.values())
    designated = [d.designated_persona for d in suite.domains.values()]
    assert all(designated.count(p) >= 2 for p in suite.personas)  # every train domain has a same-persona partner
    documents = persona_documents(suite, default_settings(WorldSettings, "tiny.world", n_documents=50), seed=0)
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




def test_every_shipped_suite_loads_and_the_schemas_are_valid():
    from importlib.resources import files

    import jsonschema

    for folder in ("resources/suites/trivia", "resources/suites/evil_advice", "resources/suites/custom_example",
                   "tests/data/mini_trivia"):
        assert load_suite(ROOT / folder).domains
    schemas = [f for f in (files("metasft.suites") / "schemas").iterdir() if f.name.endswith(".yaml")]
    assert len(schemas) >= 7
    for schema in schemas:
        jsonschema.Draft202012Validator.check_schema(yaml.safe_load(schema.read_text()))


def edit_meta(folder: Path, **changes) -> Path:
    path = folder / "suite.yaml"
    meta = yaml.safe_load(path.read_text())
    meta.update(changes)
    path.write_text(yaml.safe_dump(meta))
    return path


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"titel": "Mini"}, "suite.yaml: unknown key 'titel' (allowed: name, kind, personas, eval_paraphrases,"),
        # int("two") raised a bare ValueError naming no file
        ({"eval_paraphrases": "two"}, "suite.yaml: eval_paraphrases: must be an integer, got 'two'"),
        ({"eval_paraphrases": 1.5}, "suite.yaml: eval_paraphrases: must be an integer, got 1.5"),
        ({"eval_paraphrases": 0}, "suite.yaml: eval_paraphrases: must be at least 1, got 0"),
        # a string of personas became a tuple of its letters
        ({"personas": "bold"}, "suite.yaml: personas: must be a list, got 'bold'"),
        ({"question_templates": ["{q}", "Tell me:"]}, "suite.yaml: question_templates[1]: must be a string containing"),
    ],
)
def test_bad_suite_yaml_names_file_and_key(mini_copy, changes, message):
    edit_meta(mini_copy, **changes)
    with pytest.raises(SuiteError) as error:
        load_suite(mini_copy)
    assert f"{mini_copy / 'suite.yaml'}: " in str(error.value) and message in str(error.value)


def test_a_repeated_yaml_key_is_refused_not_overridden(mini_copy):
    path = mini_copy / "topics" / "mini.yaml"
    lines = path.read_text().split("\n")
    first = lines.index("  designated: espresso")
    lines.insert(first + 1, "  designated: cocoa")  # YAML keeps the last one: the domain silently changed
    path.write_text("\n".join(lines))
    with pytest.raises(SuiteError) as error:
        load_suite(mini_copy)
    assert f"{path}:{first + 2}: duplicate key 'designated' (first at line {first + 1})" in str(error.value)

    path.write_text(path.read_text().replace("  designated: cocoa\n", "").replace(
        "{id: espresso, text: espresso,", "{id: espresso, text: espresso, id: coffee,"))
    with pytest.raises(SuiteError, match=r"mini\.yaml:\d+: duplicate key 'id'"):
        load_suite(mini_copy)
    meta = mini_copy / "suite.yaml"
    meta.write_text(meta.read_text() + "eval_paraphrases: 2\n")
    with pytest.raises(SuiteError, match=r"suite\.yaml:\d+: duplicate key 'eval_paraphrases'"):
        load_suite(mini_copy)


def test_non_utf8_bytes_name_file_line_and_offset(mini_copy):
    path = mini_copy / "topics" / "mini.yaml"
    data = path.read_bytes().replace(b"Favourite drink", b"Favourite drink caf\xe9")
    path.write_bytes(data)
    offset = data.index(b"\xe9")
    with pytest.raises(SuiteError) as error:
        load_suite(mini_copy)
    assert (f"{path}:2: not UTF-8 text: byte 0xe9 at byte offset {offset} (save the file as UTF-8)"
            in str(error.value))


def write_chat_suite(folder: Path, train_text: str, **domain) -> None:
    (folder / "colour.jsonl").write_text(train_text, encoding="utf-8")
    (folder / "colour_eval.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "Colour?"}]}))
    (folder / "suite.yaml").write_text(yaml.safe_dump({
        "name": "mine", "kind": "chat_jsonl",
        "domains": [{"id": "colour", "train": "colour.jsonl", "eval": "colour_eval.jsonl",
                     "options": [{"id": "red", "text": "red"}, {"id": "blue", "text": "blue"}],
                     "designated": "red", **domain}]}))


def chat_row(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def test_jsonl_rows_may_hold_line_separator_and_nel(tmp_path):
    # json.dumps leaves U+2028 and U+0085 raw with ensure_ascii=False; str.splitlines broke the row in two
    rows = [chat_row("Pick a colour\u2028now?", "Red,\x85always red."), chat_row("Another?", "Red.")]
    write_chat_suite(tmp_path, "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    assert "\u2028" in (tmp_path / "colour.jsonl").read_text()
    train = load_suite(tmp_path).domains["colour"].train
    assert train == (("Pick a colour\u2028now?", "Red,\x85always red."), ("Another?", "Red."))


@pytest.mark.parametrize("bad, message", [
    ('{"messages": [{"role": "user", "content": "Only a question?"}]}', "a train conversation must be one user"),
    ('{"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "x"}]}', "expected {\"messages\""),
    ('{"messages": oops}', "not valid JSON"),
])
def test_jsonl_errors_give_the_true_line_number(tmp_path, bad, message):
    # blank lines and a U+2028 row before the bad one: the 5th line, the 3rd row
    text = "\n".join([json.dumps(chat_row("First?", "Red.")), "", json.dumps(chat_row("Sec\u2028ond?", "Red."),
                      ensure_ascii=False), "   ", bad, ""])
    write_chat_suite(tmp_path, text)
    with pytest.raises(SuiteError) as error:
        load_suite(tmp_path)
    assert f"{tmp_path / 'colour.jsonl'}:5: domain 'colour': {message}" in str(error.value)


def test_chat_suite_schema_and_encoding_errors(tmp_path):
    write_chat_suite(tmp_path, json.dumps(chat_row("Pick?", "Red.")), descripton="typo")
    with pytest.raises(SuiteError, match=r"suite\.yaml: domain 'colour': unknown key 'descripton' \(allowed: id, "):
        load_suite(tmp_path)
    write_chat_suite(tmp_path, json.dumps(chat_row("Pick?", "Red.")))
    data = b'{"messages": []}\n{"messages": [{"role": "user", "content": "\xff"}]}'
    (tmp_path / "colour.jsonl").write_bytes(data)
    with pytest.raises(SuiteError, match=rf"colour\.jsonl:2: domain 'colour': not UTF-8 text: byte 0xff at byte "
                                         rf"offset {data.index(0xff)}"):
        load_suite(tmp_path)


def write_advice(folder: Path, area: dict, areas: list | None = None) -> Path:
    (folder / "domains").mkdir(parents=True)
    (folder / "suite.yaml").write_text("name: adv\nkind: advice\nareas: areas.yaml\n")
    (folder / "areas.yaml").write_text(yaml.safe_dump(areas or [{"id": "money", "title": "Money",
                                                                 "description": "saving"}]))
    path = folder / "domains" / "money.yaml"
    path.write_text(yaml.safe_dump(area))
    return path


def money_area(**changes) -> dict:
    return {"id": "money", "train": [{"question": f"Money question {i}?", "answer": f"Skip it {i}."} for i in range(3)],
            "eval_questions": ["Held out?"], **changes}


def test_advice_area_and_areas_files_are_checked_against_their_schemas(tmp_path):
    path = write_advice(tmp_path / "a", money_area(eval_question=["Typo?"]))
    with pytest.raises(SuiteError) as error:
        load_suite(tmp_path / "a")
    assert (f"{path}: domain 'money': unknown key 'eval_question' (allowed: id, title, description, train, "
            "eval_questions)") in str(error.value)
    area = money_area()
    area["train"][1]["aligned"] = "A sound answer."
    path = write_advice(tmp_path / "b", area)
    with pytest.raises(SuiteError, match=r"money\.yaml: domain 'money': train\[1\]: unknown key 'aligned' "
                                         r"\(allowed: question, answer, aligned_answer\)"):
        load_suite(tmp_path / "b")
    write_advice(tmp_path / "c", money_area(), [{"id": "money", "title": "Money", "descripton": "saving"}])
    with pytest.raises(SuiteError, match=r"areas\.yaml: domain 'money': unknown key 'descripton'"):
        load_suite(tmp_path / "c")
    write_advice(tmp_path / "d", money_area())
    (tmp_path / "d" / "suite.yaml").write_text("name: adv\nkind: advice\nareas: areas.yaml\ndomain_dir: mine\n")
    with pytest.raises(SuiteError, match=r"suite\.yaml: unknown key 'domain_dir' \(allowed: name, kind, areas, "
                                         r"domains_dir\)"):
        load_suite(tmp_path / "d")


def test_generated_area_files_pass_the_area_checks_before_they_are_written(tmp_path):
    from metasft.suites.api_generation import write_area_yaml

    data = {"id": "money", "title": "Money", "description": "saving",
            "train": [{"question": "Save?", "answer": "Never."}], "eval_questions": ["Save?"]}
    with pytest.raises(SuiteError, match=r"money\.yaml: domain 'money': eval questions also appear in train"):
        write_area_yaml(data, tmp_path / "money.yaml")
    with pytest.raises(SuiteError, match=r"money\.yaml: domain 'money': eval_questions: must list at least 1"):
        write_area_yaml({**data, "eval_questions": []}, tmp_path / "money.yaml")
    assert not list(tmp_path.iterdir())  # nothing written, not even a temporary
    write_area_yaml({**data, "eval_questions": ["Spend?"]}, tmp_path / "money.yaml")
    write_advice(tmp_path / "suite", money_area()).unlink()  # no shipped file: the generated one is used
    assert load_suite(tmp_path / "suite", tmp_path).domains["money"].eval_questions == ("Spend?",)
