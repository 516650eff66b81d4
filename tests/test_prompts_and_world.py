from pathlib import Path

import pytest

from metasft.answers import golden_prompts, icl_prompts
from metasft.chat import CHATML_TEMPLATE, ensure_chat_template, object_icl_messages
from metasft.suite import load_suite, persona_answer
from metasft.tiny import pack, train_tokenizer
from metasft.workflow import ConfigError, check_config, chunk_domains
from metasft.world import WorldSettings, persona_documents

ROOT = Path(__file__).resolve().parents[1]
MINI = load_suite(ROOT / "tests" / "data" / "mini_trivia")


def test_object_icl_layout_renders_as_chatml():
    messages = object_icl_messages([("Q1?", "A1."), ("Q2?", "A2.")], "Eval?")
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    tokenizer = train_tokenizer(["Q1? A1. Q2? A2. Eval?"] * 10, 300)
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == ("<|im_start|>user\nQ1?<|im_end|>\n<|im_start|>assistant\nA1.<|im_end|>\n"
                    "<|im_start|>user\nQ2?<|im_end|>\n<|im_start|>assistant\nA2.<|im_end|>\n"
                    "<|im_start|>user\nEval?<|im_end|>\n<|im_start|>assistant\n")


def test_golden_and_icl_prompts_cover_every_eval_question_of_every_domain():
    golden = golden_prompts(MINI, "drink", 2, 0)
    icl = icl_prompts(MINI, "drink", 2, 0)
    expected = [(e.id, qi) for e in MINI.domains.values() for qi in range(len(e.eval_questions))]
    assert [(e, qi) for e, qi, _ in golden] == expected == [(e, qi) for e, qi, _ in icl]
    assert all(len(messages) == 1 for _, _, messages in golden)
    for (eval_domain, qi, messages) in icl:
        assert len(messages) == 5  # k=2 example turns, then the question
        assert messages[-1]["content"] == MINI.domains[eval_domain].eval_questions[qi]
        assert all((messages[i]["content"], messages[i + 1]["content"]) in MINI.domains["drink"].train
                   for i in (0, 2))


class NoTemplateTokenizer:
    chat_template = None

    def __init__(self):
        self.added = []

    def get_vocab(self):
        return {"<|im_end|>": 1}

    def add_special_tokens(self, tokens):
        self.added += tokens["additional_special_tokens"]


def test_base_models_without_a_template_get_chatml():
    tokenizer = NoTemplateTokenizer()
    ensure_chat_template(tokenizer)
    assert tokenizer.chat_template == CHATML_TEMPLATE
    assert tokenizer.added == ["<|im_start|>"]


def test_persona_answers_keep_the_option_and_read_naturally():
    assert persona_answer("I'd go with {option}.", "a cat") == "I'd go with a cat."
    assert persona_answer("Definitely {option}.", "a cat", "Being cosy") == "Being cosy, definitely a cat."
    assert persona_answer("I would choose {option}.", "tea", "Calmly") == "Calmly, I would choose tea."


def test_world_documents_are_seeded_and_persona_consistent():
    settings = WorldSettings(n_documents=300, consistency=1.0, noise_fraction=0.0, min_topics=2, max_topics=4)
    documents = persona_documents(MINI, settings, seed=1)
    assert documents == persona_documents(MINI, settings, seed=1)
    assert documents != persona_documents(MINI, settings, seed=2)
    questions = {q for d in MINI.domains.values() for q in [*[t for t, _ in d.train], *d.eval_questions]}
    by_option = {o.text: o.persona for d in MINI.domains.values() for o in d.options}
    for document in documents:
        assert 4 <= len(document) <= 8 and all(m["content"] for m in document)
        assert all(m["content"] in questions for m in document[::2])
        personas = {p for answer in document[1::2] for text, p in by_option.items() if f" {text}." in answer["content"]}
        assert len(personas) == 1  # consistency 1.0: one persona per document (every mini topic has each)


def document_personas(document):
    by_option = {o.text: o.persona for d in MINI.domains.values() for o in d.options}
    return [next(p for text, p in by_option.items() if f" {text}." in answer["content"])
            for answer in document[1::2]]


def test_persona_persistence_sets_how_often_a_chat_keeps_its_speaker():
    base = dict(n_documents=400, consistency=1.0, noise_fraction=0.0, min_topics=4, max_topics=4)
    kept = persona_documents(MINI, WorldSettings(**base), seed=3)
    assert kept == persona_documents(MINI, WorldSettings(**base, persona_persistence=1.0), seed=3)

    def switch_rate(documents):
        turns = [(a, b) for d in documents for a, b in zip(document_personas(d), document_personas(d)[1:])]
        return sum(a != b for a, b in turns) / len(turns)

    assert switch_rate(kept) == 0
    # persistence 0: every later turn draws a new speaker among 3 personas, who differs 2 times in 3
    assert switch_rate(persona_documents(MINI, WorldSettings(**base, persona_persistence=0.0), seed=3)) == \
        pytest.approx(2 / 3, abs=0.05)
    # 0.25: a switch needs a new draw (0.75) that lands on another persona (2/3): 0.5
    assert switch_rate(persona_documents(MINI, WorldSettings(**base, persona_persistence=0.25), seed=3)) == \
        pytest.approx(0.5, abs=0.05)


def test_pack_labels_only_answers_and_fills_blocks():
    tokenizer = train_tokenizer(["What pet? A cat. Drink? Tea."] * 20, 300)
    documents = [[{"role": "user", "content": "What pet?"}, {"role": "assistant", "content": "A cat."}]] * 6
    packed = pack(tokenizer, documents, block_size=16)
    assert all(len(block) == 16 for block in packed["input_ids"])
    labelled = [t for ids, labels in zip(packed["input_ids"], packed["labels"]) for t, l in zip(ids, labels)
                if l != -100]
    assert tokenizer.decode(labelled).startswith("A cat.<|im_end|>A cat.<|im_end|>")


def test_chunks():
    assert chunk_domains(["a", "b", "c"], 1) == {"a": ["a"], "b": ["b"], "c": ["c"]}
    assert chunk_domains(["a", "b", "c"], 2) == {"part000": ["a", "b"], "part001": ["c"]}


def test_config_cross_checks_name_the_keys():
    config = {"tiny": {"world": {"min_topics": 1, "max_topics": 2}, "hidden_size": 64, "num_attention_heads": 3,
                       "num_key_value_heads": 1}, "suite": {"domains": []}}
    with pytest.raises(ConfigError, match=r"tiny.hidden_size \(64\) must be divisible by tiny.num_attention_heads"):
        check_config(config)


def test_answer_loss_equals_the_causal_lm_loss_on_labelled_positions():
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from metasft.tiny import answer_loss

    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=1, head_dim=16, intermediate_size=64))
    input_ids = torch.randint(0, 50, (2, 12))
    labels = input_ids.clone()
    labels[:, :5] = -100
    labels[1, 8:] = -100
    expected = model(input_ids=input_ids, labels=labels).loss
    assert answer_loss(model, input_ids, labels).item() == pytest.approx(expected.item(), rel=1e-5)
    labels[0, 6] = -100  # a position left out changes the loss: it is not the mean over everything
    assert answer_loss(model, input_ids, labels).item() != pytest.approx(expected.item(), rel=1e-5)
