"""ObjectSFT: LoRA fine-tunes of the base model, one adapter per train domain (the `finetune` stage).

A job trains the adapters of its chunk of train domains one after another from a single base-model load, each on
T's train pairs as single-turn prompts (`metasft.suites.turns.single_turn`) with the shared LoRA recipe of
`metasft.models.training`; the chunk's folder appears only when all of its adapters are done.
"""

from __future__ import annotations

import logging

from metasft.models.training import SFTSettings, lora_sft, prompt_completion_rows
from metasft.pipeline.config import settings_from
from metasft.pipeline.io import atomic_path
from metasft.pipeline.seeds import derived_seed
from metasft.suites.snapshot import read_snapshot
from metasft.suites.turns import single_turn

log = logging.getLogger(__name__)


def finetune(suite_path, output_dir, *, base_model: str, domains: list[str], settings: dict, seed: int,
             threads: int = 1, chat: dict | None = None) -> None:
    """Stage `finetune` (ObjectSFT): train the adapters of `domains` one after another from one base-model load.

    Adapters land in `output_dir/<domain>/` (peft format, with `training.json`); the folder appears only when
    every adapter of the chunk is done.
    """
    from metasft.models.loading import configure_torch, load_base

    configure_torch(threads)
    suite, _ = read_snapshot(suite_path)
    sft = settings_from(SFTSettings, settings, "finetune")
    model, tokenizer = load_base(base_model, chat=chat)
    with atomic_path(output_dir) as tmp:
        tmp.mkdir()
        for domain_id in domains:
            domain = suite.domains[domain_id]
            rows = prompt_completion_rows([single_turn(q) for q, _ in domain.train], [a for _, a in domain.train])
            summary = lora_sft(model, tokenizer, rows, sft, tmp / domain_id, derived_seed(seed, "finetune", domain_id))
            log.info("finetune %s: loss %.3f in %.1fs", domain_id, summary["train_loss"], summary["seconds"])
