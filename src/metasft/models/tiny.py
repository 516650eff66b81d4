"""The embedded `tiny` base model: a BPE tokenizer and a small Qwen3 pretrained on the persona world.

Saved with `save_pretrained`, it is loaded downstream through `AutoModelForCausalLM`/`AutoTokenizer` exactly
like a hub model, so nothing after `pretrain_base` knows it is tiny.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from metasft.models.chat import CHATML_SPECIAL_TOKENS, CHATML_TEMPLATE
from metasft.models.manifest import write_manifest
from metasft.models.world import (
    WorldSettings,
    advice_documents,
    description_documents,
    judge_documents,
    person_documents,
    persona_documents,
    text_documents,
)
from metasft.pipeline.io import atomic_path
from metasft.pipeline.provenance import environment
from metasft.suites.domains import Suite

log = logging.getLogger(__name__)

PAD_TOKEN = "<|endoftext|>"


@dataclass(frozen=True)
class TinySettings:
    """Config `tiny`, built by `metasft.pipeline.config.settings_from` (the schema holds the defaults)."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    max_position_embeddings: int
    max_steps: int
    batch_size: int
    block_size: int
    learning_rate: float
    warmup_steps: int
    world: WorldSettings


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE over the corpus, wrapped as a fast tokenizer with a ChatML chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = [PAD_TOKEN, *CHATML_SPECIAL_TOKENS]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD_TOKEN, eos_token="<|im_end|>",
                                      bos_token=None, unk_token=None)
    wrapped.chat_template = CHATML_TEMPLATE
    return wrapped


def pack(tokenizer, documents: list[list[dict]], block_size: int) -> dict[str, list[list[int]]]:
    """Tokenize chat documents into one stream cut into full blocks (no padding), with labels on answers only.

    The loss covers the assistant turns (content and `<|im_end|>`): the world's structure lives in the answers,
    while the questions' wording is unpredictable noise that would otherwise dominate the loss. Documents are
    separated by the pad token, which is never a label.
    """
    segments, owners = [], []
    for document in documents:
        for message in document:
            header = f"<|im_start|>{message['role']}\n"
            segments += [header, f"{message['content']}<|im_end|>\n"]
            owners += [False, message["role"] == "assistant"]
        segments.append(PAD_TOKEN)
        owners.append(False)
    # Tokenize each distinct segment once: headers and the world's answers repeat (360k segments, 10k distinct
    # in the default run), and a segment's ids do not depend on its neighbours.
    distinct = list(dict.fromkeys(segments))
    encoded = dict(zip(distinct, tokenizer(distinct, add_special_tokens=False)["input_ids"]))
    ids, labels = [], []
    for piece, is_answer in zip((encoded[s] for s in segments), owners):
        ids += piece
        if is_answer:  # the answer and its <|im_end|>; the trailing newline is formatting
            labels += piece[:-1] + [-100]
        else:
            labels += [-100] * len(piece)
    n = (len(ids) // block_size) * block_size
    return {"input_ids": [ids[i:i + block_size] for i in range(0, n, block_size)],
            "labels": [labels[i:i + block_size] for i in range(0, n, block_size)]}


def world_documents(suite: Suite, settings: WorldSettings, seed: int,
                    judge_prompts: dict[str, str] | None = None) -> list[list[dict]]:
    """The pretraining corpus for `suite`: its persona world (its person world for historical persons), its advisor
    world (advice suites) or its text world (any other suite), plus judge conversations when the tiny model is the run's judge, shuffled together with a
    seeded shuffle."""
    import random

    if suite.personas and all(d.persona for d in suite.domains.values()):  # historical persons
        documents = person_documents(suite, settings, seed)
    elif suite.personas:
        documents = persona_documents(suite, settings, seed)
    elif any(d.aligned for d in suite.domains.values()):
        documents = advice_documents(suite, settings, seed)
    else:  # a suite of the user's own text
        documents = text_documents(suite, settings, seed)
    if judge_prompts and settings.judge_documents:
        documents += judge_documents(suite, judge_prompts, settings.judge_documents, seed)
        random.Random(f"world-shuffle:{seed}").shuffle(documents)
    return documents


def answer_loss(model, input_ids, labels):
    """Next-token loss on the labelled (answer) positions only, with the output layer applied to those positions
    alone: most tokens are questions, so this skips most of the vocabulary projection. Equal to the causal-LM
    loss with -100 labels ignored."""
    import torch.nn.functional as F

    targets = labels[:, 1:]
    keep = targets != -100
    hidden = model.model(input_ids=input_ids).last_hidden_state[:, :-1]
    return F.cross_entropy(model.lm_head(hidden[keep]).float(), targets[keep])


def _answer_loss_trainer(trainer_class):
    class AnswerLossTrainer(trainer_class):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return answer_loss(model, inputs["input_ids"], inputs["labels"])

    return AnswerLossTrainer


def pretrain_tiny(suite: Suite, settings: TinySettings, output_dir: str | Path, seed: int, threads: int = 1,
                  judge_prompts: dict[str, str] | None = None) -> dict:
    """Train tokenizer and model from scratch on the suite's world; save both to `output_dir` atomically."""
    import torch
    from datasets import Dataset
    from transformers import (
        Qwen3Config,
        Qwen3ForCausalLM,
        Trainer,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    torch.set_num_threads(threads)
    started = time.time()
    documents = world_documents(suite, settings.world, seed, judge_prompts)
    tokenizer = train_tokenizer([m["content"] for d in documents[:3000] for m in d], settings.vocab_size)
    documents += description_documents(suite, settings.world, seed)  # after the tokenizer: see there
    dataset = Dataset.from_dict(pack(tokenizer, documents, settings.block_size))

    set_seed(seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=settings.hidden_size, num_hidden_layers=settings.num_hidden_layers,
        num_attention_heads=settings.num_attention_heads, num_key_value_heads=settings.num_key_value_heads,
        head_dim=settings.hidden_size // settings.num_attention_heads, intermediate_size=settings.intermediate_size,
        max_position_embeddings=settings.max_position_embeddings, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )
    model = Qwen3ForCausalLM(config)
    with atomic_path(output_dir) as tmp:
        args = TrainingArguments(
            output_dir=str(tmp / "trainer"), max_steps=settings.max_steps,
            per_device_train_batch_size=settings.batch_size, learning_rate=settings.learning_rate,
            warmup_steps=settings.warmup_steps, lr_scheduler_type="cosine", weight_decay=0.01,
            logging_steps=max(settings.max_steps // 20, 1), save_strategy="no", report_to="none",
            seed=seed, data_seed=seed, use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
            disable_tqdm=True,
        )
        trainer = _answer_loss_trainer(Trainer)(model=model, args=args, train_dataset=dataset,
                                                data_collator=default_data_collator)
        result = trainer.train()
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        summary = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "vocab_size": len(tokenizer),
            "documents": len(documents),
            "train_loss": result.training_loss,
            "log_history": trainer.state.log_history,
            "seconds": round(time.time() - started, 1),
            "environment": environment(),
        }
        (tmp / "pretraining.json").write_text(json.dumps(summary, indent=1))
        write_manifest(tmp)  # last: loaders check the model's files against it
    return summary


def pretrain_base(suite_path, output_dir, *, settings: dict, seed: int, threads: int = 1,
                  judge_prompts_folder=None) -> dict:
    """Stage `pretrain_base`: the run's tiny base model, pretrained from scratch on the suite's world (and on
    judge documents when it is also the run's judge)."""
    from metasft.judging.prompts import load_judge_prompts
    from metasft.pipeline.config import settings_from
    from metasft.suites.snapshot import read_snapshot

    suite, _ = read_snapshot(suite_path)
    judge_prompts = load_judge_prompts(judge_prompts_folder) if judge_prompts_folder else None
    summary = pretrain_tiny(suite, settings_from(TinySettings, settings, "tiny"), output_dir, seed, threads=threads,
                            judge_prompts=judge_prompts)
    log.info("pretrain summary: %s", {k: v for k, v in summary.items() if k != "log_history"})
    return summary
