"""The generation engine: mixed-adapter batches equal per-adapter sequential generation, token budgets, seeding
that does not depend on batching or chunking, and the vllm backend's request building (without vllm)."""

import dataclasses
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import default_settings

from metasft.generation.requests import (
    GenerationBackendError,
    GenerationRequest,
    SamplingSettings,
    check_generation_backend,
    encode_prompts,
)
from metasft.generation.sampling import plan_batches
from metasft.pipeline.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = ["dinner_cuisine", "instrument", "morning_drink"]


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    """A random-init tiny Qwen3 with the project's tokenizer and three random LoRA adapters (a few seconds)."""
    from conftest import random_trivia_base

    from metasft.models.random import build_random_adapters

    folder = tmp_path_factory.mktemp("generation")
    suite, base = random_trivia_base(folder, DOMAINS)
    adapters = build_random_adapters(base, DOMAINS, folder / "adapters")
    return suite, base, adapters


def sampling(**overrides) -> SamplingSettings:
    return default_settings(SamplingSettings, "generation", **overrides)


def engine(fixture, mixing="stacked", **settings):
    from metasft.generation.hf import HFEngine

    suite, base, adapters = fixture
    return HFEngine.load(base, adapters, sampling(**settings), mixing=mixing)


def ragged_prompts(suite) -> list[list[dict]]:
    """Questions of different lengths, some with ICL-style prior turns, so batches need padding."""
    prompts = []
    for i, domain in enumerate(suite.domains.values()):
        for j, question in enumerate(domain.eval_questions[:3]):
            prior = [{"role": "user", "content": q} if k % 2 == 0 else {"role": "assistant", "content": a}
                     for k, (q, a) in enumerate(domain.train[:(i + j) % 3])]
            prompts.append(prior + [{"role": "user", "content": question}])
    return prompts


def test_plan_batches_sorts_by_length_and_respects_the_token_budget():
    lengths = [30, 5, 12, 5, 40, 7, 12]
    batches = plan_batches(lengths, [4] * len(lengths), max_new_tokens=10, max_batch_tokens=200, max_rows=8)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [i for b in batches for i in b]
    assert [lengths[i] for i in flat] == sorted(lengths)  # length buckets: shortest first, little padding
    for batch in batches:
        rows = 4 * len(batch)
        assert rows <= 8
        assert len(batch) == 1 or rows * (max(lengths[i] for i in batch) + 10) <= 200
    # an over-budget prompt still runs, alone; a large budget packs everything at the row limit
    assert plan_batches([500], [4], 10, 100, 64) == [[0]]
    assert len(plan_batches([10] * 64, [4] * 64, 10, 10**9, 64)) == 4


def test_mixed_adapter_batch_equals_per_adapter_sequential_greedy(fixture):
    """Greedy, fp32: one engine call mixing three adapters and the base over ragged prompts gives, token for
    token, what `generate` gives for each prompt alone with that adapter set."""

    suite, _, _ = fixture
    greedy = engine(fixture, temperature=0.0, max_new_tokens=12, samples_per_question=2, max_batch_tokens=1200)
    prompts = ragged_prompts(suite)
    names = [*DOMAINS, None]
    requests = [GenerationRequest(p, name, seed=i, n=2) for i, p in enumerate(prompts) for name in names]
    batched = greedy.generate_tokens(requests)
    assert greedy.stacked is not None and greedy.segments is None
    # the per-adapter segments and peft's own mixed-adapter forward (adapter_names, one per row) give the same tokens
    for mixing in ("segments", "peft"):
        other = engine(fixture, mixing, temperature=0.0, max_new_tokens=12, samples_per_question=2,
                       max_batch_tokens=1200)
        assert (other.stacked is None) and ((other.segments is not None) == (mixing == "segments"))
        assert other.generate_tokens(requests) == batched, mixing
    lengths = [len(x) for x in encode_prompts(greedy.tokenizer, requests)]
    assert len(plan_batches(lengths, [2] * len(requests), 12, 1200, 512)) > 2  # several batches, each mixed

    different = per_adapter_generate_equals(greedy, requests, batched, max_new_tokens=12)
    # the adapters really differ: the same question gets different answers under different adapters
    assert len(different) > 2 * len(prompts)


def test_stacked_lora_takes_adapters_of_different_ranks_and_layers(fixture, tmp_path):
    """Stacked LoRA with a rank-4 adapter on two projections beside rank-8 adapters on every linear layer: the
    layers hold different column sets, nothing is padded, and the tokens equal peft's and `generate`'s."""
    from metasft.generation.hf import HFEngine
    from metasft.models.random import build_random_adapters

    suite, base, adapters = fixture
    narrow = build_random_adapters(base, ["narrow"], tmp_path, r=4, alpha=8, seed=3,
                                   target_modules=["q_proj", "v_proj"])
    mixed = {**narrow, DOMAINS[0]: adapters[DOMAINS[0]], DOMAINS[1]: adapters[DOMAINS[1]]}
    settings = sampling(temperature=0.0, max_new_tokens=10, samples_per_question=1, max_batch_tokens=100_000)
    stacked = HFEngine.load(base, mixed, settings)
    widths = {tuple(sorted(layer.lora_A)): sum(layer.r.values()) for layer in stacked.stacked.layers}
    assert widths[tuple(sorted(["narrow", DOMAINS[0], DOMAINS[1]]))] == 4 + 8 + 8
    assert widths[tuple(sorted([DOMAINS[0], DOMAINS[1]]))] == 16  # layers the narrow adapter does not target
    requests = [GenerationRequest(p, name, seed=i) for i, p in enumerate(ragged_prompts(suite)[:5])
                for name in ("narrow", *DOMAINS[:2], None)]
    batched = stacked.generate_tokens(requests)
    assert HFEngine.load(base, mixed, settings, mixing="peft").generate_tokens(requests) == batched
    different = per_adapter_generate_equals(stacked, requests, batched, max_new_tokens=10)
    assert len({answer for question, answer in different}) > 5


def per_adapter_generate_equals(greedy, requests, batched, max_new_tokens):
    """Assert each request's engine samples equal `generate` for its prompt alone with its adapter set; returns
    the distinct (question, answer tokens)."""
    import torch

    from metasft.models.chat import encode_chat

    model, tokenizer, stops = greedy.model, greedy.tokenizer, greedy.stop_ids
    different = set()
    for request, samples in zip(requests, batched):
        ids = torch.tensor([encode_chat(tokenizer, request.messages, add_generation_prompt=True)])
        with torch.inference_mode():
            if request.adapter is None:
                with model.disable_adapter():
                    out = model.generate(input_ids=ids, do_sample=False, max_new_tokens=max_new_tokens,
                                         eos_token_id=stops, pad_token_id=tokenizer.pad_token_id)
            else:
                model.set_adapter(request.adapter)
                out = model.generate(input_ids=ids, do_sample=False, max_new_tokens=max_new_tokens,
                                     eos_token_id=stops, pad_token_id=tokenizer.pad_token_id)
        reference = out[0, ids.shape[1]:].tolist()
        if any(t in stops for t in reference):
            reference = reference[:next(j for j, t in enumerate(reference) if t in stops) + 1]
        assert samples == [reference] * len(samples), (request.adapter, request.messages[-1]["content"])
        different.add((request.messages[-1]["content"], tuple(reference)))
    return different


def test_lora_dropout_keeps_the_fast_mixed_adapter_path(fixture, tmp_path):
    """LoRA dropout (0.05 in the paper presets) is a training setting: an adapter trained with it still runs on
    the stacked mixed-adapter path, and its answers equal `generate`'s with that adapter alone."""
    from metasft.generation.hf import HFEngine
    from metasft.models.loading import load_base
    from metasft.models.training import (
        SFTSettings,
        lora_sft,
        prompt_completion_rows,
    )

    suite, base, adapters = fixture
    domain = suite.domains[DOMAINS[0]]
    model, tokenizer = load_base(base)
    settings = default_settings(SFTSettings, "finetune", learning_rate=0.05, max_steps=4, batch_size=4,
                                lora={"dropout": 0.05})
    lora_sft(model, tokenizer, prompt_completion_rows([[{"role": "user", "content": q}] for q, _ in domain.train],
                                                      [a for _, a in domain.train]), settings, tmp_path / "dropout", 0)
    greedy = HFEngine.load(base, {"dropout": tmp_path / "dropout", DOMAINS[1]: adapters[DOMAINS[1]]},
                           sampling(temperature=0.0, max_new_tokens=8, max_batch_tokens=100_000))
    dropouts = [getattr(d, "p", 0) for m in greedy.stacked.layers for d in m.lora_dropout.values()] if greedy.stacked else []
    assert 0.05 in dropouts  # the trained adapter carries its dropout, and the fast path is on
    used = []
    installed = greedy.stacked.installed
    greedy.stacked.installed = lambda: used.append(greedy._gated_names) or installed()
    requests = [GenerationRequest(p, name, seed=i) for i, p in enumerate(ragged_prompts(suite)[:4])
                for name in ("dropout", DOMAINS[1], None)]
    batched = greedy.generate_tokens(requests)
    assert used and all(len(set(names)) > 1 for names in used)  # every step of the mixed batch was stacked
    different = per_adapter_generate_equals(greedy, requests, batched, max_new_tokens=8)
    assert len(different) > 4  # the trained adapter answers differently from the base


def test_gradient_checkpointing_changes_speed_not_weights(fixture, tmp_path):
    """finetune/meta_train.gradient_checkpointing is a performance key (metasft.pipeline.reruns): with LoRA dropout
    on, the adapter trained with activation recomputation equals the one trained without, tensor for tensor, and
    the setting reaches the trainer ("auto": on a GPU only)."""
    import torch
    from safetensors.torch import load_file

    from metasft.models.loading import load_base
    from metasft.models.training import SFTSettings, lora_sft, prompt_completion_rows

    suite, base, _ = fixture
    domain = suite.domains[DOMAINS[0]]
    rows = prompt_completion_rows([[{"role": "user", "content": q}] for q, _ in domain.train],
                                  [a for _, a in domain.train])
    weights, used = {}, {}
    for checkpointing in (True, False, "auto"):
        model, tokenizer = load_base(base)
        settings = default_settings(SFTSettings, "finetune", learning_rate=0.05, max_steps=3, batch_size=4,
                                    lora={"dropout": 0.1}, gradient_checkpointing=checkpointing)
        lora_sft(model, tokenizer, rows, settings, tmp_path / str(checkpointing), 0)
        # newer transformers renamed the property (the old name warns that it goes in v6)
        used[checkpointing] = getattr(model, "is_activation_checkpointing", None)
        if used[checkpointing] is None:
            used[checkpointing] = model.is_gradient_checkpointing
        weights[checkpointing] = load_file(tmp_path / str(checkpointing) / "adapter_model.safetensors")
    assert used == {True: True, False: False, "auto": torch.cuda.is_available()}  # auto: on a GPU only
    assert weights[True].keys() == weights[False].keys() == weights["auto"].keys() and len(weights[True]) > 4
    assert all(torch.equal(weights[True][k], weights[False][k]) for k in weights[True])
    assert any(weights[True][k].abs().sum() > 0 for k in weights[True] if "lora_B" in k)  # it trained


def test_scoring_only_labelled_positions_changes_speed_not_weights(fixture, tmp_path, monkeypatch):
    """On the CPU trl's fused loss scores every position unless `labelled_positions_only` lets it keep the labelled
    ones (metasft.models.training): the trainer then scores only completion tokens, and the adapter equals the
    one trained with every position scored, tensor for tensor."""
    import contextlib

    import torch
    import trl.trainer.utils as trl_utils
    from safetensors.torch import load_file

    import metasft.models.training as training
    from metasft.models.loading import load_base

    suite, base, _ = fixture
    prompts = ragged_prompts(suite)  # ICL-style prior turns: most positions are prompt
    answers = [a for domain in suite.domains.values() for _, a in domain.train][:len(prompts)]
    rows = training.prompt_completion_rows(prompts, answers)
    kernel, scored = trl_utils._ChunkedLogProbFunction, []

    class CountingKernel:
        @staticmethod
        def apply(hidden, *args):
            scored.append(hidden.shape[0])
            return kernel.apply(hidden, *args)

    monkeypatch.setattr(trl_utils, "_ChunkedLogProbFunction", CountingKernel)
    weights, positions = {}, {}
    for labelled_only in (True, False):
        if not labelled_only:
            monkeypatch.setattr(training, "labelled_positions_only", contextlib.nullcontext)
        model, tokenizer = load_base(base)
        settings = default_settings(training.SFTSettings, "finetune", learning_rate=0.05, max_steps=3, batch_size=4)
        scored.clear()
        training.lora_sft(model, tokenizer, rows, settings, tmp_path / str(labelled_only), 0)
        positions[labelled_only] = sum(scored)
        weights[labelled_only] = load_file(tmp_path / str(labelled_only) / "adapter_model.safetensors")
    assert 0 < 3 * positions[True] < positions[False]  # the completions are a small share of the positions
    assert weights[True].keys() == weights[False].keys() and len(weights[True]) > 4
    assert all(torch.equal(weights[True][k], weights[False][k]) for k in weights[True])
    assert any(weights[True][k].abs().sum() > 0 for k in weights[True] if "lora_B" in k)  # it trained
    assert trl_utils._use_triton(torch.device("cpu")) is False  # the switch is undone after training


def test_static_decode_gives_the_dynamic_loops_answers(fixture):
    """generation.static_decode (issue 14 part 2, its CPU-runnable logic): rows padded to a bucket, a preallocated
    cache filled from the prefill, finished and padding rows kept in the batch; greedy and sampled answers equal
    the dynamic loop's, and shapes are prepared once per (rows, length) bucket."""
    from metasft.generation.hf import HFEngine
    from metasft.generation.static import cache_length, row_bucket

    assert [row_bucket(n) for n in (1, 8, 9, 100, 512)] == [8, 8, 16, 128, 512]
    assert cache_length(30, 24) == 64 and cache_length(41, 24) == 128 and cache_length(40, 24) == 64
    suite, base, adapters = fixture
    requests = [GenerationRequest(p, name, seed=i, n=3) for i, p in enumerate(ragged_prompts(suite))
                for name in (*DOMAINS, None)]
    for temperature in (0.0, 1.0):
        dynamic = engine(fixture, temperature=temperature, max_new_tokens=12, max_batch_tokens=2000)
        static = engine(fixture, temperature=temperature, max_new_tokens=12, max_batch_tokens=2000,
                        static_decode=True)
        assert static.static is not None and not static.static.compile_step  # CPU: eager steps
        # random weights seldom draw the stop token: make a token they often draw a stop, so rows finish early
        drawn = Counter(t for samples in dynamic.generate_tokens(requests[:12]) for tokens in samples for t in tokens)
        for one in (static, dynamic):
            one.stop_ids = [*one.stop_ids, drawn.most_common(1)[0][0]]
        answers = static.generate_tokens(requests)
        assert answers == dynamic.generate_tokens(requests)
        assert sum(len(tokens) < 12 for samples in answers for tokens in samples) > 10  # rows finished early
        # padding rows: every step ran a bucket of rows, more than the dynamic loop's shrinking batches
        assert static.stats["row_steps"] > dynamic.stats["row_steps"]
        assert static.static.shapes_prepared < len(plan_batches(
            [len(x) for x in encode_prompts(static.tokenizer, requests)], [3] * len(requests), 12, 2000, 1024))
    with pytest.raises(ValueError, match="static_decode needs the stacked LoRA path"):
        HFEngine.load(base, adapters, sampling(static_decode=True), mixing="segments")


def test_samples_do_not_depend_on_batch_companions_or_budget(fixture):
    suite, _, _ = fixture
    prompts = ragged_prompts(suite)
    requests = [GenerationRequest(p, DOMAINS[i % 3], seed=100 + i, n=3) for i, p in enumerate(prompts)]
    wide = engine(fixture, max_new_tokens=10, max_batch_tokens=100_000)
    narrow = engine(fixture, max_new_tokens=10, max_batch_tokens=150)
    together = wide.generate(requests)
    assert narrow.generate(requests) == together
    for i in (0, 4, len(requests) - 1):
        assert wide.generate([requests[i]]) == [together[i]]
    # samples of one request differ from each other, and the seed matters
    assert len({a["answer"] for samples in together for a in samples}) > len(requests)
    reseeded = wide.generate([GenerationRequest(requests[0].messages, requests[0].adapter, seed=7, n=3)])
    assert reseeded != [together[0]]
    assert all(set(a) == {"answer", "finished", "new_tokens"} for samples in together for a in samples)


def test_golden_answers_do_not_depend_on_chunking(fixture, tmp_path):
    from metasft.generation.answers import ANSWER_SCHEMA, sample_source
    from metasft.suites.domains import split_domains

    suite, _, _ = fixture
    settings = sampling(samples_per_question=2, max_new_tokens=8)
    split = split_domains(DOMAINS, 0, 0.5)
    one_job = sample_source(engine(fixture, **settings.__dict__), suite, split, "golden", DOMAINS, settings, 2, 0,
                            tmp_path / "all.parquet")
    alone = sample_source(engine(fixture, **settings.__dict__), suite, split, "golden", DOMAINS[1:2], settings, 2, 0,
                          tmp_path / "one.parquet")
    assert dict(one_job.schema) == ANSWER_SCHEMA
    assert one_job.height == 3 * 3 * len(suite.domains[DOMAINS[0]].eval_questions) * 2
    assert one_job.filter(one_job["train_domain"] == DOMAINS[1]).equals(alone)


def test_merged_single_adapter_matches_the_adapter_greedy(fixture):
    """MetaSFT's engine merges its only adapter into the weights: same greedy answers as unmerged."""
    from metasft.generation.hf import HFEngine

    suite, base, adapters = fixture
    settings = sampling(temperature=0.0, max_new_tokens=10, samples_per_question=1)
    requests = [GenerationRequest(p, "MetaSFT", seed=i) for i, p in enumerate(ragged_prompts(suite))]
    merged = HFEngine.load(base, {"MetaSFT": adapters[DOMAINS[0]]}, settings, merge=True)
    plain = HFEngine.load(base, {"MetaSFT": adapters[DOMAINS[0]]}, settings)
    assert merged.merged == {"MetaSFT"} and not merged.adapters
    assert merged.generate(requests) == plain.generate(requests)


def test_vllm_requests_and_backend_check(tmp_path):
    from metasft.generation.vllm import build_requests, llm_kwargs, lora_ids

    (tmp_path / "a").mkdir()
    (tmp_path / "a/adapter_config.json").write_text('{"r": 12}')
    (tmp_path / "b").mkdir()
    (tmp_path / "b/adapter_config.json").write_text('{"r": 8}')
    adapters = {"b": tmp_path / "b", "a": tmp_path / "a"}
    settings = sampling(samples_per_question=4, temperature=0.7, top_p=0.9, max_new_tokens=16,
                        backend="vllm", vllm={"max_loras": 1, "gpu_memory_utilization": 0.8})
    kwargs = llm_kwargs("Qwen/Qwen3-4B-Base", adapters, settings, seed=3)
    assert kwargs == {"model": "Qwen/Qwen3-4B-Base", "seed": 3, "gpu_memory_utilization": 0.8, "max_num_seqs": 512,
                      "enforce_eager": False, "dtype": "auto", "tensor_parallel_size": 1, "enable_lora": True,
                      "max_loras": 1, "max_lora_rank": 16}
    assert "enable_lora" not in llm_kwargs("m", {}, settings)
    with pytest.raises(ConfigError, match="generation.vllm is missing"):  # the section of a job on the hf backend
        llm_kwargs("m", adapters, dataclasses.replace(settings, vllm={}))
    assert lora_ids(adapters) == {"a": 1, "b": 2}

    requests = [GenerationRequest([{"role": "user", "content": "q"}], "a", seed=11, n=4),
                GenerationRequest([{"role": "user", "content": "q"}], None, seed=12, n=4)]
    specs = build_requests(requests, [[1, 2, 3], [1, 2]], adapters, settings, stop_ids=[5, 9])
    assert specs[0] == {"prompt": {"prompt_token_ids": [1, 2, 3]}, "lora": ("a", 1, str(tmp_path / "a")),
                        "sampling": {"n": 4, "max_tokens": 16, "min_tokens": 0, "seed": 11, "stop_token_ids": [5, 9],
                                     "detokenize": False, "temperature": 0.7, "top_p": 0.9}}
    assert specs[1]["lora"] is None and specs[1]["sampling"]["seed"] == 12
    greedy = build_requests(requests[:1], [[1]], adapters, sampling(temperature=0), [5])[0]["sampling"]
    assert greedy["temperature"] == 0.0 and "top_p" not in greedy
    with pytest.raises(KeyError, match="not loaded"):
        build_requests([GenerationRequest([], "zzz", 0)], [[1]], adapters, settings, [5])

    check_generation_backend({"backend": "hf"})
    with pytest.raises(GenerationBackendError, match="backend"):
        check_generation_backend({"backend": "tgi"})
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(GenerationBackendError, match=r"pip install -e '\.\[vllm\]'"):
            check_generation_backend({"backend": "vllm"})


def test_importing_the_project_does_not_import_vllm_or_torch():
    code = ("import sys, metasft.generation, metasft.generation.answers, metasft.generation.vllm, metasft.bench.generation; "
            "print('vllm' in sys.modules, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""})
    assert done.stdout.split() == ["False", "False"]


def test_decode_figures_and_the_bandwidth_roofline_by_hand():
    from metasft.bench.roofline import decode_figures

    result = {"decode_steps": 10, "decode_seconds": 0.5, "row_steps": 40, "kv_position_reads": 400,
              "weight_bytes": 1000, "kv_bytes_per_position": 10}
    figures = decode_figures(result, bandwidth=1.4e6)
    assert figures["ms_per_decode_step"] == pytest.approx(50.0)
    assert figures["rows_per_decode_step"] == 4.0
    assert figures["bytes_per_decode_step"] == 1000 + 40 * 10  # weights once, 40 cached positions a step
    assert figures["roofline_ms_per_decode_step"] == pytest.approx(1.0)
    assert figures["roofline_fraction"] == pytest.approx(1.0 / 50)
    assert "roofline_fraction" not in decode_figures(result, bandwidth=None)
    assert decode_figures({**result, "decode_steps": 0}, 1e9) == {}


def test_engine_counts_its_decode_work_and_model_bytes(fixture):
    from metasft.bench.generation import with_adapters
    from metasft.bench.roofline import model_bytes

    suite, _, _ = fixture
    one = engine(fixture, temperature=0.0, max_new_tokens=6, max_batch_tokens=100_000)
    prompts = ragged_prompts(suite)
    one.generate_tokens([GenerationRequest(p, DOMAINS[0], seed=0, n=2) for p in prompts])
    # one batch of 2 x len(prompts) rows, no stop drawn by random weights: 5 forwards after the prefill's token
    assert one.stats["decode_steps"] == 5 and one.stats["row_steps"] == 5 * 2 * len(prompts)
    width = max(len(x) for x in encode_prompts(one.tokenizer, [GenerationRequest(p, None, 0) for p in prompts]))
    assert one.stats["kv_position_reads"] == 2 * len(prompts) * sum(width + k for k in range(1, 6))
    config = one.base_model.config
    figures = model_bytes(one)
    assert figures["kv_bytes_per_position"] == 2 * config.num_hidden_layers * config.num_key_value_heads * \
        config.head_dim * 4  # fp32 keys and values
    all_weights = sum(p.numel() * 4 for p in one.model.parameters())
    embedding = one.base_model.get_input_embeddings().weight.numel() * 4
    assert figures["weight_bytes"] == all_weights - (0 if config.tie_word_embeddings else embedding)
    spec = {"adapters": {"a": "A", "b": "B", "c": "C"}, "pairs": [(t, f"e{i}", ["q"]) for i, t in enumerate("aabbcc")]}
    assert with_adapters(spec, 2)["adapters"] == {"a": "A", "b": "B"}
    assert [t for t, _, _ in with_adapters(spec, 2)["pairs"]] == ["a", "b", "a", "b", "a", "b"]
    assert [e for _, e, _ in with_adapters(spec, 2)["pairs"]] == [f"e{i}" for i in range(6)]  # the same requests


def test_generation_benchmark_sweeps_adapter_counts(tmp_path):
    """The benchmark's sweep runs (random tiny model, a handful of tokens): one engine figure set per count."""
    done = subprocess.run(
        [sys.executable, "-m", "metasft.bench.generation", "--model", "random", "--paths", "c", "--repeats", "1",
         "--adapters", "2", "--adapter-counts", "1,3", "--pairs-per-adapter", "2", "--questions", "1",
         "--samples", "2", "--max-new-tokens", "4", "--bandwidth-gbs", "1000", "--run", "bench_sweep_test",
         "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, cwd=ROOT, check=True)
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    for count in (1, 3):
        assert float(lines[f"adapters_{count}_engine_tokens_per_s"]) > 0
        assert 0 < float(lines[f"adapters_{count}_engine_roofline_fraction"]) < 1
        assert float(lines[f"adapters_{count}_engine_rows_per_decode_step"]) == 8  # 4 pairs x 1 question x 2
    assert "rate_3_over_1_adapters" in lines
