"""The selection replay's stages: round 0 of a seed (`simulate_selection_start`), one policy's curve
(`simulate_selection`), with the meta-model they train and sample (`MetaModels`); the loop is
`metasft.selection.simulation`."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import polars as pl

from metasft.analysis.propensities import propensities
from metasft.methods.metasft import meta_train_seed
from metasft.pipeline.seeds import derived_seed
from metasft.selection.schedule import SelectionSettings, schedule
from metasft.selection.simulation import ReplayRun, Start, replay, start_round


class MetaModels:
    """Meta-training and MetaSFT's answers as the run makes them: one base load for training, the run's chat,
    sampling, ICL and judge settings."""

    def __init__(self, run: ReplayRun, *, base_model: str, chat: dict | None, meta_settings, sampling, icl_k: int,
                 seed: int, judge: dict, threads: int, run_name: str):
        self.run, self.base_model, self.chat = run, base_model, chat
        self.meta_settings, self.sampling, self.icl_k, self.seed = meta_settings, sampling, icl_k, seed
        self.judge, self.threads, self.run_name = judge, threads, run_name
        self._model = None
        self._engine = (None, None)  # (adapter, engine): a round's evaluation and probes share one load
        self._examples: dict[str, tuple[int, list[dict]]] = {}  # train domain -> (golden rows, tokenized examples)

    def train(self, labelled: pl.DataFrame, output_dir: Path, *, max_steps: int | None = None,
              init_adapter: Path | None = None, seed: int | None = None) -> dict:
        from metasft.models.loading import configure_torch, load_base
        from metasft.models.training import lora_sft_examples

        configure_torch(self.threads)
        if self._model is None:
            self._model = load_base(self.base_model, chat=self.chat)
        settings = self.meta_settings if max_steps is None else dataclasses.replace(self.meta_settings,
                                                                                    max_steps=max_steps)
        model, tokenizer = self._model
        return lora_sft_examples(model, tokenizer, self.examples(labelled), settings, output_dir,
                                 meta_train_seed(self.seed) if seed is None else seed, init_adapter=init_adapter)

    def examples(self, labelled: pl.DataFrame) -> list[dict]:
        """The MetaSFT examples of `labelled` (golden answers of train_train pairs) tokenized, in `meta_rows`' order
        (train domain first). A train domain's rows are tokenized once: a curve's rounds retrain on every labelled
        domain, and a domain's prompts and labels never change (its golden rows are revealed whole)."""
        from metasft.methods.metasft import meta_rows
        from metasft.models.chat import sft_examples

        tokenizer = self._model[1]
        examples = []
        for (domain,), rows in sorted(labelled.partition_by("train_domain", as_dict=True).items()):
            cached = self._examples.get(domain)
            if cached is None or cached[0] != rows.height:
                table = meta_rows(self.run.suite, rows, self.icl_k, self.seed)
                cached = (rows.height, sft_examples(tokenizer, [json.loads(p) for p in table["prompt"]],
                                                    table["completion"].to_list()))
                self._examples[domain] = cached
            examples.extend(cached[1])
        return examples

    def predict(self, adapter: Path, pairs: list[tuple[str, str]], *, samples_per_question: int | None = None,
                draw: int = 0) -> pl.DataFrame:
        """MetaSFT's propensity per pair (train_domain, eval_domain, propensity): the run's prompts and seeds for
        draw 0; another draw of the ICL examples (and sampling seeds) for draw > 0."""
        from metasft.generation.answers import sample_source
        from metasft.generation.engines import load_engine
        from metasft.judging.score import score_table
        from metasft.models.loading import configure_torch

        configure_torch(self.threads)
        sampling = self.sampling if samples_per_question is None else dataclasses.replace(
            self.sampling, samples_per_question=samples_per_question)
        seed = self.seed if draw == 0 else derived_seed(self.seed, "selection-icl-draw", draw)
        if self._engine[0] != str(adapter):  # the engine reads no samples_per_question: requests carry their counts
            self._engine = (None, None)  # free the last round's merged model before loading the next
            self._engine = (str(adapter), load_engine(self.base_model, {"MetaSFT": str(adapter)}, self.sampling,
                                                      merge=True, chat=self.chat))
        engine = self._engine[1]
        answers = sample_source(engine, self.run.suite, self.run.split, "MetaSFT", sorted({t for t, _ in pairs}),
                                sampling, self.icl_k, seed, pairs=set(pairs))
        scores = score_table(answers, self.run.suite, settings=self.judge, base_model=self.base_model,
                             chat=self.chat, threads=self.threads, run=self.run_name)
        return propensities(scores).select("train_domain", "eval_domain", "propensity")


def read_replay_run(suite_path, golden_paths: list[str], propensities_path) -> ReplayRun:
    from metasft.pipeline.io import read_parquet, read_parquets
    from metasft.suites.snapshot import read_snapshot

    suite, split = read_snapshot(suite_path)
    return ReplayRun(suite, split, read_parquets(golden_paths), read_parquet(propensities_path))


def meta_models(suite, split, golden_answers: pl.DataFrame, propensity: pl.DataFrame, *, base_model, chat, selection,
                meta_train, generation, judge, icl_k, training_seed, threads, run_name) -> tuple[MetaModels,
                                                                                                 SelectionSettings]:
    """The meta-models of a run's selection loop (replayed or live) and its selection settings, from the config
    sections as the job runs them."""
    from metasft.generation.requests import SamplingSettings
    from metasft.models.training import SFTSettings
    from metasft.pipeline.config import settings_from

    run = ReplayRun(suite, split, golden_answers, propensity)
    settings = settings_from(SelectionSettings, selection, "selection")
    schedule(len(run.meta_train), settings)  # a bad budget stops before any training
    models = MetaModels(run, base_model=base_model, chat=chat,
                        meta_settings=settings_from(SFTSettings, meta_train, "meta_train"),
                        sampling=settings_from(SamplingSettings, generation, "generation"), icl_k=icl_k,
                        seed=training_seed, judge=judge, threads=threads, run_name=run_name)
    return models, settings


def _models(suite_path, golden_paths, propensities_path, **model_settings) -> tuple[MetaModels, SelectionSettings]:
    run = read_replay_run(suite_path, golden_paths, propensities_path)
    return meta_models(run.suite, run.split, run.golden_answers, run.propensity, **model_settings)


def simulate_selection_start(suite_path, golden_paths: list[str], propensities_path, outputs: dict[str, str], *,
                             simulation_seed: int, seed: int, **model_settings) -> Start:
    """Stage `simulate_selection_start`: round 0 of one seed, shared by its curves: the adapter (output `adapter`),
    MetaSFT's propensities on the evaluation pairs (`predictions`) and what it was trained on (`start`, JSON).
    `model_settings`: the keywords of `_models` (the run's settings as the job runs them)."""
    from metasft.pipeline.io import write_json, write_parquet

    models, settings = _models(suite_path, golden_paths, propensities_path, **model_settings)
    start = start_round(models, settings, seed=seed, simulation_seed=simulation_seed,
                        eval_domains=model_settings["selection"]["simulation"]["eval_domains"],
                        adapter=Path(outputs["adapter"]))
    write_parquet(start.predictions, outputs["predictions"])
    write_json({"domains": start.domains, "train_seconds": start.train_seconds,
                "evaluate_seconds": start.evaluate_seconds}, outputs["start"])
    return start


def read_start(adapter, predictions, start_json) -> Start:
    from metasft.pipeline.io import read_json, read_parquet

    info = read_json(start_json)
    return Start(info["domains"], Path(adapter), read_parquet(predictions), info["train_seconds"],
                 info["evaluate_seconds"])


def simulate_selection(suite_path, golden_paths: list[str], propensities_path, outputs: dict[str, str], *,
                       policy: str, simulation_seed: int, seed: int, n_resamples: int, confidence: float,
                       start: dict[str, str] | None = None, **model_settings) -> pl.DataFrame:
    """Stage `simulate_selection`: one policy's learning curve for one seed, written to outputs `curve` (parquet),
    `rounds` (CSV: every candidate's score per round, the chosen ones marked) and `predictions` (MetaSFT's
    propensities on the evaluation pairs after each round). `start`: the files of the seed's round 0 (`adapter`,
    `predictions`, `start`), else it is trained here. The rounds' adapters live in a temporary folder beside the
    outputs and are removed with it."""
    from metasft.pipeline.io import write_csv, write_parquet

    models, settings = _models(suite_path, golden_paths, propensities_path, **model_settings)
    folder = Path(outputs["curve"]).parent
    folder.mkdir(parents=True, exist_ok=True)
    shared = read_start(start["adapter"], start["predictions"], start["start"]) if start else None
    with tempfile.TemporaryDirectory(dir=folder, prefix=".rounds-") as workdir:
        curve, rounds, predictions = replay(policy, simulation_seed, models, settings, seed=seed,
                                            eval_domains=model_settings["selection"]["simulation"]["eval_domains"],
                                            n_resamples=n_resamples, confidence=confidence, workdir=Path(workdir),
                                            start=shared)
    write_parquet(predictions, outputs["predictions"])
    write_csv(rounds, outputs["rounds"])
    write_parquet(curve, outputs["curve"])
    return curve
