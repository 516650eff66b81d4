"""LoRA supervised fine-tuning with trl + peft, shared by ObjectSFT (`finetune`) and MetaSFT (`meta_train`)."""

from __future__ import annotations

import json
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from metasft.models.manifest import write_manifest
from metasft.pipeline.io import atomic_path
from metasft.pipeline.provenance import environment


@dataclass(frozen=True)
class LoraSettings:
    """Config `finetune.lora` / `meta_train.lora`, built by `metasft.pipeline.config.settings_from`."""

    r: int
    alpha: int
    dropout: float
    target_modules: tuple[str, ...]


@dataclass(frozen=True)
class SFTSettings:
    """Config `finetune` / `meta_train`, built by `metasft.pipeline.config.settings_from` (the schema holds the
    defaults)."""

    learning_rate: float
    max_steps: int
    batch_size: int
    gradient_accumulation_steps: int
    max_length: int
    lr_scheduler_type: str
    warmup_steps: int
    lora: LoraSettings
    gradient_checkpointing: bool | str  # true, false or "auto" (on a GPU only); a performance key (pipeline.reruns)


def prompt_completion_rows(prompts: list[list[dict]], completions: list[str]) -> list[dict]:
    """Prompt-completion rows (chat prompt, answer text): the loss is on the completion only."""
    return [{"prompt": p, "completion": c} for p, c in zip(prompts, completions)]


@contextmanager
def labelled_positions_only():
    """Let trl's fused loss score only the labelled (completion) positions on the CPU too.

    trl 1.x computes the loss with a chunked log-prob kernel; off CUDA/XPU it scores every position (prompt and
    padding included) so that compiling backends such as Neuron see fixed tile shapes, then zeroes the unlabelled
    ones. The CPU compiles nothing, and MetaSFT's prompts are mostly ICL examples, so that is about half of a
    tiny-model training step. Scoring the labelled rows alone computes the same per-row log-probabilities: the
    adapters are bitwise equal on the tiny model (tests/test_generation.py), in 2.3x less training-loop time (a
    150-step warm meta-training round of scale_tiny, one thread: 72.7 s -> 31.0 s). A trl without that switch
    trains as it does by default.
    """
    import trl.trainer.utils as trl_utils

    default = getattr(trl_utils, "_use_triton", None)
    if default is None:
        yield
        return
    trl_utils._use_triton = lambda device: device.type == "cpu" or default(device)
    try:
        yield
    finally:
        trl_utils._use_triton = default


def lora_sft(model, tokenizer, rows: list[dict], settings: SFTSettings, output_dir: str | Path, seed: int,
             init_adapter: str | Path | None = None) -> dict:
    """Train a fresh LoRA adapter on `rows` and save it (peft format) atomically to `output_dir`.

    `model` is the base model; a fresh peft wrapper is built per call so several adapters can be trained
    one after another from a single base load. The rows are tokenized here (`metasft.models.chat.sft_examples`, the
    rendering sampling uses, with the tokenizer's chat settings), so trl trains on exactly those ids.
    `init_adapter`: continue training that saved adapter instead (a warm start: its LoRA shape is kept, the
    optimizer and learning-rate schedule start afresh).
    """
    from metasft.models.chat import sft_examples

    started = time.time()
    examples = sft_examples(tokenizer, [r["prompt"] for r in rows], [r["completion"] for r in rows])
    return lora_sft_examples(model, tokenizer, examples, settings, output_dir, seed, init_adapter=init_adapter,
                             started=started)


def lora_sft_examples(model, tokenizer, examples: list[dict], settings: SFTSettings, output_dir: str | Path,
                      seed: int, init_adapter: str | Path | None = None, started: float | None = None) -> dict:
    """`lora_sft` on examples already tokenized by `metasft.models.chat.sft_examples` (a caller that trains
    several times on growing sets tokenizes each row once). `started`: when the caller began (the summary's
    `seconds` count from it)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    started = time.time() if started is None else started
    set_seed(seed)
    lora = settings.lora
    peft_config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                             target_modules=list(lora.target_modules), task_type="CAUSAL_LM")
    if init_adapter is None:
        peft_model = get_peft_model(model, peft_config)
    else:
        peft_model = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True)
    checkpointing = settings.gradient_checkpointing
    if checkpointing == "auto":
        checkpointing = torch.cuda.is_available()
    with atomic_path(output_dir) as tmp:
        args = SFTConfig(
            output_dir=str(tmp / "trainer"), max_steps=settings.max_steps,
            per_device_train_batch_size=settings.batch_size,
            gradient_accumulation_steps=settings.gradient_accumulation_steps,
            learning_rate=settings.learning_rate, lr_scheduler_type=settings.lr_scheduler_type,
            warmup_steps=settings.warmup_steps, max_length=settings.max_length, completion_only_loss=True,
            logging_steps=max(settings.max_steps // 10, 1), save_strategy="no", report_to="none", seed=seed,
            data_seed=seed, use_cpu=not torch.cuda.is_available(), bf16=torch.cuda.is_available(),
            disable_tqdm=True, dataset_num_proc=None, gradient_checkpointing=checkpointing,
        )
        trainer = SFTTrainer(model=peft_model, args=args, train_dataset=Dataset.from_list(examples),
                             processing_class=tokenizer)
        with labelled_positions_only():
            result = trainer.train()
        peft_model.save_pretrained(tmp)
        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        summary = {"train_loss": result.training_loss, "examples": len(examples),
                   "seconds": round(time.time() - started, 1), "log_history": trainer.state.log_history,
                   "environment": environment()}
        (tmp / "training.json").write_text(json.dumps(summary, indent=1))
        write_manifest(tmp)  # last: loaders check the adapter's files against it
    peft_model.unload()  # restore the plain base for the next adapter
    return summary
