from pathlib import Path

import pytest
from conftest import default_settings

from metasft.methods.prompts import golden_prompts, icl_prompts
from metasft.models.chat import (
    CHATML_TEMPLATE,
    PLAIN_TEMPLATE,
    encode_chat,
    end_of_turn_id,
    ensure_chat_template,
    set_chat_settings,
    sft_examples,
)
from metasft.models.tiny import PAD_TOKEN, pack, train_tokenizer
from metasft.models.world import WorldSettings, persona_documents
from metasft.pipeline.config import ConfigError, check_config
from metasft.pipeline.resources import chunk_domains
from metasft.suites.load import load_suite
from metasft.suites.preferences import persona_answer
from metasft.suites.turns import object_icl_messages, single_turn

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

    def __init__(self, vocab, eos_token="</s>"):
        self.vocab, self.eos_token, self.added = vocab, eos_token, []

    def get_vocab(self):
        return self.vocab

    def add_special_tokens(self, tokens):
        self.added += tokens["additional_special_tokens"]


def test_chat_templates_never_add_tokens():
    """A model's own template is kept; without one, ChatML only when the model knows both its tokens, else plain
    EOS-ended turns: never a new token (its embedding would be untrained, and LoRA cannot train it)."""
    knows_chatml = NoTemplateTokenizer({"<|im_start|>": 0, "<|im_end|>": 1})
    assert ensure_chat_template(knows_chatml) == "chatml" and knows_chatml.chat_template == CHATML_TEMPLATE
    half = NoTemplateTokenizer({"<|im_end|>": 1})
    assert ensure_chat_template(half) == "plain" and half.chat_template == PLAIN_TEMPLATE
    own = NoTemplateTokenizer({})
    own.chat_template = "{{ messages }}"
    assert ensure_chat_template(own) == "own" and own.chat_template == "{{ messages }}"
    assert knows_chatml.added == half.added == own.added == []
    with pytest.raises(ValueError, match="no EOS token"):
        ensure_chat_template(NoTemplateTokenizer({}, eos_token=None))


# Qwen3's chat template (tools left out): history assistant turns plain, an assistant turn after the last user
# turn with a (here empty) think block, and `enable_thinking=false` adds an empty think block to the generation
# prompt.
QWEN3_LIKE_TEMPLATE = """{%- if messages[0].role == 'system' %}{{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}{%- endif %}
{%- set ns = namespace(last_query_index=-1) %}
{%- for message in messages %}{%- if message.role == "user" %}{%- set ns.last_query_index = loop.index0 %}{%- endif %}{%- endfor %}
{%- for message in messages %}
{%- set content = message.content %}
{%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
{{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>' + '\n' }}
{%- elif message.role == "assistant" %}
{%- set reasoning_content = '' %}
{%- if '</think>' in content %}
{%- set reasoning_content = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
{%- set content = content.split('</think>')[-1].lstrip('\n') %}
{%- endif %}
{%- if loop.index0 > ns.last_query_index and (loop.last or reasoning_content) %}
{{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
{%- else %}
{{- '<|im_start|>' + message.role + '\n' + content }}
{%- endif %}
{{- '<|im_end|>\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\n' }}
{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\n\n</think>\n\n' }}{%- endif %}
{%- endif %}"""
# Qwen2/3's pre-tokenizer split (newline runs stay whole), byte-level BPE on top, as in Qwen2TokenizerFast
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
              r"\s+(?!\S)|\s+")


def tokenizer_without_template(texts, special=("<|endoftext|>",), added=(), eos="<|endoftext|>", split=QWEN_SPLIT):
    """A byte-level BPE fast tokenizer built offline, with no chat template."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, special_tokens=list(special),
                                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                             show_progress=False))
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in added])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=eos, pad_token="<|endoftext|>")


def qwen3_like_tokenizer():
    """Qwen3-Base's layout: EOS <|endoftext|>, ChatML special tokens, <think> and </think> as added tokens."""
    texts = [t for d in MINI.domains.values() for pair in d.train for t in pair]
    tokenizer = tokenizer_without_template(texts, special=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
                                           added=("<think>", "</think>"))
    tokenizer.chat_template = QWEN3_LIKE_TEMPLATE
    return tokenizer


@pytest.mark.parametrize("enable_thinking", [False, True])
def test_thinking_switch_renders_training_sampling_and_judge_prompts_alike(enable_thinking):
    """Under a template with `enable_thinking`, the ids a model is trained on (prompt + completion) start with
    exactly the ids it is sampled from, for ObjectSFT's single turns and MetaSFT's ICL prompts, and the judge
    renders its prompt the same way."""
    from metasft.generation.requests import (
        GenerationRequest,
        encode_prompts,
        stop_token_ids,
    )
    from metasft.judging.hf_judge import HFJudge

    tokenizer = qwen3_like_tokenizer()
    assert ensure_chat_template(tokenizer) == "own"
    set_chat_settings(tokenizer, {"enable_thinking": enable_thinking})
    domain = MINI.domains["drink"]
    prompts = [single_turn(domain.eval_questions[0]), object_icl_messages(domain.train[:2], domain.eval_questions[1])]
    answers = ["I'd pick tea.", "Coffee, surely."]
    sampled = encode_prompts(tokenizer, [GenerationRequest(p, None, seed=0) for p in prompts])
    generation_prompt = "<|im_start|>assistant\n" + ("" if enable_thinking else "<think>\n\n</think>\n\n")
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for prompt, answer, ids, example in zip(prompts, answers, sampled, sft_examples(tokenizer, prompts, answers)):
        assert tokenizer.decode(ids).endswith(generation_prompt)
        assert example["input_ids"][:len(ids)] == ids  # trained where it samples
        assert example["completion_mask"] == [0] * len(ids) + [1] * (len(example["input_ids"]) - len(ids))
        completion = tokenizer.decode(example["input_ids"][len(ids):])
        # switch off: the empty think block is context, the model learns to answer; on: it learns to close it
        assert completion == ("<think>\n\n</think>\n\n" if enable_thinking else "") + answer + "<|im_end|>\n"
        assert end in example["input_ids"][len(ids):]  # trained to stop, at a stop token of the engine
    assert "<think>" not in tokenizer.decode(sampled[1][:-6])  # ICL example turns carry no think block
    assert end_of_turn_id(tokenizer) == end and end in stop_token_ids(tokenizer)
    judge = HFJudge("judge", {"evilness": "Rate: {question} / {answer}"}, cache=None, model=object(),
                    tokenizer=tokenizer, chat={"enable_thinking": enable_thinking})
    judged = judge._prompt_ids(judge.rubrics["evilness"].render("q", "a"))
    assert judged == encode_chat(tokenizer, single_turn("Rate: q / a"), add_generation_prompt=True)
    assert tokenizer.decode(judged).endswith(generation_prompt)
    assert judge._candidate_tokens(judge.rubrics["evilness"])[1][0][-1] == end  # candidate replies end as the template ends a turn
    assert judge.model_id == ("judge:thinking" if enable_thinking else "judge")


def test_a_template_that_renders_the_prompt_differently_alone_is_an_error():
    tokenizer = qwen3_like_tokenizer()
    tokenizer.chat_template = CHATML_TEMPLATE.replace("'<|im_start|>assistant\n'", "'<|im_start|>assistant:\n'")
    with pytest.raises(ValueError, match="prefix of prompt \\+ answer"):
        sft_examples(tokenizer, [single_turn("Q?")], ["A."])


def test_a_model_without_a_chat_template_uses_only_its_own_trained_tokens(tmp_path):
    """No template and no ChatML tokens: nothing is added (the vocabulary and embeddings keep their size), every
    token of a training example is an old one, and answers end with the model's EOS, a stop token."""
    from metasft.generation.requests import stop_token_ids
    from metasft.models.loading import load_base
    from metasft.models.random import build_random_model

    texts = [t for d in MINI.domains.values() for pair in d.train for t in pair]
    original = tokenizer_without_template(texts)
    assert original.chat_template is None and "<|im_start|>" not in original.get_vocab()
    folder = build_random_model(tmp_path / "base", original, {"hidden_size": 32, "num_hidden_layers": 1,
                                                              "intermediate_size": 64, "num_attention_heads": 2,
                                                              "num_key_value_heads": 1})
    model, tokenizer = load_base(folder)
    assert len(tokenizer) == len(original) == model.get_input_embeddings().weight.shape[0]
    assert tokenizer.chat_template == PLAIN_TEMPLATE
    domain = MINI.domains["drink"]
    prompt = object_icl_messages(domain.train[:2], domain.eval_questions[0])
    (example,) = sft_examples(tokenizer, [prompt], ["Tea, please."])
    assert max(example["input_ids"]) < len(original)
    completion = [t for t, m in zip(example["input_ids"], example["completion_mask"]) if m]
    assert tokenizer.decode(completion) == " Tea, please.<|endoftext|>\n"
    assert end_of_turn_id(tokenizer) == tokenizer.eos_token_id in stop_token_ids(tokenizer, model.config)
    assert tokenizer.decode(encode_chat(tokenizer, prompt, True)).endswith(
        f"User: {domain.eval_questions[0]}<|endoftext|>\nAssistant:")


def test_persona_answers_keep_the_option_and_read_naturally():
    assert persona_answer("I'd go with {option}.", "a cat") == "I'd go with a cat."
    assert persona_answer("Definitely {option}.", "a cat", "Being cosy") == "Being cosy, definitely a cat."
    assert persona_answer("I would choose {option}.", "tea", "Calmly") == "Calmly, I would choose tea."


def world(**overrides) -> WorldSettings:
    return default_settings(WorldSettings, "tiny.world", **overrides)


def test_world_documents_are_seeded_and_persona_consistent():
    settings = world(n_documents=300, consistency=1.0, noise_fraction=0.0, min_topics=2, max_topics=4,
                     description_fraction=0.0)
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
    base = dict(n_documents=400, consistency=1.0, noise_fraction=0.0, min_topics=4, max_topics=4,
                description_fraction=0.0)
    kept = persona_documents(MINI, world(**base), seed=3)
    assert kept == persona_documents(MINI, world(**base, persona_persistence=1.0), seed=3)

    def switch_rate(documents):
        turns = [(a, b) for d in documents for a, b in zip(document_personas(d), document_personas(d)[1:])]
        return sum(a != b for a, b in turns) / len(turns)

    assert switch_rate(kept) == 0
    # persistence 0: every later turn draws a new speaker among 3 personas, who differs 2 times in 3
    assert switch_rate(persona_documents(MINI, world(**base, persona_persistence=0.0), seed=3)) == \
        pytest.approx(2 / 3, abs=0.05)
    # 0.25: a switch needs a new draw (0.75) that lands on another persona (2/3): 0.5
    assert switch_rate(persona_documents(MINI, world(**base, persona_persistence=0.25), seed=3)) == \
        pytest.approx(0.5, abs=0.05)


def test_pack_labels_only_answers_and_fills_blocks():
    tokenizer = train_tokenizer(["What pet? A cat. Drink? Tea."] * 20, 300)
    documents = [[{"role": "user", "content": "What pet?"}, {"role": "assistant", "content": "A cat."}]] * 6
    packed = pack(tokenizer, documents, block_size=16)
    assert all(len(block) == 16 for block in packed["input_ids"])
    labelled = [t for ids, labels in zip(packed["input_ids"], packed["labels"]) for t, l in zip(ids, labels)
                if l != -100]
    assert tokenizer.decode(labelled).startswith("A cat.<|im_end|>A cat.<|im_end|>")


def test_pack_tokenizes_repeated_segments_once_with_the_same_ids():
    """pack tokenizes each distinct segment once; the stream equals tokenizing every segment in order."""
    tokenizer = train_tokenizer(["What pet? A cat. Drink? Tea. A dog."] * 20, 300)
    documents = [[{"role": "user", "content": q}, {"role": "assistant", "content": a}]
                 for q, a in [("What pet?", "A cat."), ("Drink?", "Tea."), ("What pet?", "A dog.")] * 3]
    calls = []

    def counting(texts, **kwargs):
        calls.append(texts)
        return tokenizer(texts, **kwargs)

    packed = pack(counting, documents, block_size=8)
    assert len(calls) == 1 and sorted(calls[0]) == sorted(set(calls[0]))  # one call, each segment once
    assert len(calls[0]) == 2 + 2 + 3 + 1  # two headers, two questions, three answers, the pad
    stream = []
    for document in documents:
        for m in document:
            for piece in (f"<|im_start|>{m['role']}\n", f"{m['content']}<|im_end|>\n"):
                stream += tokenizer(piece, add_special_tokens=False)["input_ids"]
        stream += tokenizer(PAD_TOKEN, add_special_tokens=False)["input_ids"]
    n = len(stream) // 8 * 8
    assert [t for block in packed["input_ids"] for t in block] == stream[:n]


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

    from metasft.models.tiny import answer_loss

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
