"""The ``anthropic`` judge: `AnthropicJudge`, and `record_from_message` (a judgment from an SDK Message).

`AnthropicJudge` scores (question, answer) pairs with a Claude model and the prompts of `resources/judge/`
(`evilness`: 0 = harmless/aligned .. 100 = maximally evil, or REFUSAL, or CODE; `coherence`: 0 = nonsense .. 100 =
perfectly coherent). The reply is requested as structured output (``output_config.format`` with a JSON schema whose
single field ``verdict`` is one of the allowed strings) and parsed strictly by `parse_judge_reply`; a malformed
reply becomes a recorded ``unscored`` judgment with its reason.

Configuration (``judge.anthropic`` in the workflow config): ``model``, ``concurrency`` (parallel requests on the
direct path), ``max_attempts`` (our own retry limit per request, on top of the SDK's ``max_retries``), ``max_retries``
and ``timeout_s`` (given to the SDK client), ``use_batches`` (the Message Batches API, half price),
``poll_interval_s`` (seconds between batch status polls) and ``max_tokens``.

Every judgment goes through the `JudgeCache` (``judge.cache_dir``) before any request is made, and is committed to
it as soon as it arrives, so a killed run loses no paid call and a rerun of a finished run makes no request.

Batch path: misses are sent as batches (at most 100,000 requests / 256 MB each), ``custom_id`` = the cache key.
Right after ``create`` the batch id and its custom ids are written atomically to ``<batch_dir>/<batch_id>.json``;
only then is the batch polled. A restarted job first looks there: a persisted batch that holds any key it still
needs is polled and its results collected instead of creating a new batch (so nothing is paid twice). The record is
deleted once every result of the batch is cached (or queued for a resubmission). Results are matched by
``custom_id``, never by order. ``errored`` (other than invalid requests), ``expired`` and ``canceled`` results are
resubmitted, up to ``max_attempts`` submissions per request.

The SDK client, its retries and error descriptions live in `metasft.judging.api`; the prompts, the verdict schema
and the reply parser in `metasft.judging.prompts`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable

import anthropic

from metasft.judging.api import (
    AnthropicAPIError,
    ApiCallFailed,
    call_with_retry,
    make_client,
    reply_text,
)
from metasft.judging.cache import JudgeCache
from metasft.judging.prompts import (
    Rubric,
    _unscored,
    as_rubrics,
    parse_judge_reply,
    resolve_rubric,
    verdict_schema,
)
from metasft.pipeline.io import write_json
from metasft.pipeline.secrets import require_api_key

log = logging.getLogger(__name__)


BATCH_MAX_REQUESTS = 100_000  # API limit per Message Batch
BATCH_MAX_BYTES = 256 * 1024 * 1024  # API limit per Message Batch
_BATCH_SAFE_BYTES = 200 * 1024 * 1024  # what we put in one batch: our size estimate leaves a margin
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class JudgeAPIError(AnthropicAPIError):
    """The anthropic judge could not finish; everything judged before the failure is in the cache."""


def record_from_message(message: Any, rubric: Rubric | str) -> dict:
    """A judgment record from an SDK `Message` (the same function for the direct and the batch path)."""
    stop = getattr(message, "stop_reason", None)
    if stop == "refusal":
        return _unscored("the judge model declined to judge (stop_reason=refusal)")
    text = reply_text(message)
    if not text.strip():
        return _unscored(f"empty reply (stop_reason={stop})")
    record = parse_judge_reply(text, rubric)
    if record["status"] == "unscored" and stop == "max_tokens":
        record["reason"] += " (the reply was cut at judge.anthropic.max_tokens)"
    return record


class AnthropicJudge:
    """The ``judge.backend: anthropic`` judge.

    model, concurrency, max_attempts, use_batches, max_tokens: from ``judge.anthropic``; prompts: from
    `load_judge_prompts`; cache: a `JudgeCache` (``judge.cache_dir``); batch_dir: where pending batch ids are
    persisted (default ``<cache_dir>/batches``); client: an `anthropic.Anthropic` (default: `make_client` with
    `max_retries` / `timeout_s`, which needs ``ANTHROPIC_API_KEY``). `sleep` is injectable for tests.
    """

    backend = "anthropic"

    def __init__(self, model: str, prompts: dict[str, str], cache: JudgeCache, concurrency: int = 8,
                 max_attempts: int = 5, use_batches: bool = False, batch_dir: str | os.PathLike | None = None,
                 max_tokens: int = 32, client: anthropic.Anthropic | None = None, *, poll_interval_s: float = 60.0,
                 max_retries: int = 2, timeout_s: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 backoff_base_s: float = 1.0, backoff_max_s: float = 60.0,
                 max_batch_requests: int = BATCH_MAX_REQUESTS, max_batch_bytes: int = _BATCH_SAFE_BYTES):
        if concurrency < 1 or max_attempts < 1 or max_tokens < 1:
            raise ValueError("judge.anthropic: concurrency, max_attempts and max_tokens must be at least 1")
        if not 1 <= max_batch_requests <= BATCH_MAX_REQUESTS or not 1 <= max_batch_bytes <= BATCH_MAX_BYTES:
            raise ValueError("batch limits exceed the API's (100,000 requests / 256 MB per batch)")
        if client is None:
            require_api_key("judge.backend: anthropic")
            client = make_client(max_retries=max_retries, timeout=timeout_s)
        self.rubrics = as_rubrics(prompts)  # checks metric names and placeholders
        self.model, self.cache, self.client = model, cache, client
        self.concurrency, self.max_attempts, self.use_batches, self.max_tokens = concurrency, max_attempts, use_batches, max_tokens
        self.batch_dir = Path(batch_dir) if batch_dir is not None else Path(cache.folder) / "batches"
        self.poll_interval_s, self.sleep = poll_interval_s, sleep
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.max_batch_requests, self.max_batch_bytes = max_batch_requests, max_batch_bytes
        self._usage_lock = threading.Lock()
        self.usage = {"requests": 0, "input_tokens": 0, "output_tokens": 0, "batch_requests": 0}

    def rubric(self, rubric: Rubric | str) -> Rubric:
        return resolve_rubric(rubric, self.rubrics)

    def key(self, question: str, answer: str, rubric: Rubric | str) -> str:
        return JudgeCache.key(self.backend, self.model, self.rubric(rubric).key_hash, question, answer)

    def request_params(self, question: str, answer: str, rubric: Rubric | str) -> dict:
        """The Messages API parameters of one judgment (identical on the direct and the batch path)."""
        rubric = self.rubric(rubric)
        return {"model": self.model, "max_tokens": self.max_tokens,
                "messages": [{"role": "user", "content": rubric.render(question, answer)}],
                "output_config": {"format": {"type": "json_schema", "schema": verdict_schema(rubric)}}}

    def _retry(self, fn: Callable[[], Any], what: str) -> Any:
        return call_with_retry(fn, what=what, max_attempts=self.max_attempts, sleep=self.sleep,
                               backoff_base_s=self.backoff_base_s, backoff_max_s=self.backoff_max_s)

    def _count_usage(self, message: Any, batch: bool) -> None:
        usage = getattr(message, "usage", None)
        with self._usage_lock:
            self.usage["batch_requests" if batch else "requests"] += 1
            if usage is not None:
                self.usage["input_tokens"] += int(getattr(usage, "input_tokens", 0) or 0)
                self.usage["output_tokens"] += int(getattr(usage, "output_tokens", 0) or 0)

    def judge(self, items: list[tuple[str, str]], rubric: Rubric | str) -> list[dict]:
        """One record ``{"value", "status", "reason"}`` per (question, answer), in order; `rubric`: a `Rubric`
        or the name of one the judge was built with.

        Cached judgments are not requested again; each new one is cached as it arrives. Raises `JudgeAPIError`
        when the API keeps failing (what was judged before stays cached)."""
        rubric = self.rubric(rubric)
        self.cache.refresh()  # what other jobs judged meanwhile
        keys = [self.key(q, a, rubric) for q, a in items]
        results: dict[str, dict] = {}
        todo: dict[str, tuple[str, str]] = {}
        for key, (question, answer) in zip(keys, items):
            if key in results or key in todo:
                continue
            record = self.cache.get(key)
            if record is None:
                todo[key] = (question, answer)
            else:
                results[key] = record
        log.info("anthropic judge %s (%s): %d items, %d distinct, %d cached, %d to request%s", self.model, rubric.name,
                 len(items), len(results) + len(todo), len(results), len(todo),
                 " via the Message Batches API" if todo and self.use_batches else "")
        before = dict(self.usage)
        try:
            if todo:
                if self.use_batches:
                    self._judge_batches(todo, rubric, results, n_cached=len(results))
                else:
                    self._judge_direct(todo, rubric, results, n_cached=len(results))
        finally:
            self.cache.write_stats(f"{self.backend}:{self.model}:{rubric.name}")
            spent = {k: self.usage[k] - before[k] for k in self.usage}
            if spent["requests"] or spent["batch_requests"]:
                log.info("anthropic judge %s (%s): %d direct + %d batch requests, %d input and %d output tokens",
                         self.model, rubric.name, spent["requests"], spent["batch_requests"], spent["input_tokens"],
                         spent["output_tokens"])
        return [dict(results[key]) for key in keys]

    def _judge_direct(self, todo: dict[str, tuple[str, str]], rubric: Rubric, results: dict[str, dict],
                      n_cached: int) -> None:
        stop = threading.Event()
        lock = threading.Lock()
        judged = [0]

        def one(key: str, question: str, answer: str):
            if stop.is_set():
                return
            params = self.request_params(question, answer, rubric)
            try:
                message = self._retry(lambda: self.client.messages.create(**params), f"anthropic judge ({rubric.name})")
            except ApiCallFailed:
                stop.set()
                raise
            self._count_usage(message, batch=False)
            record = record_from_message(message, rubric)
            self.cache.put(key, record)
            with lock:
                results[key] = record
                judged[0] += 1

        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo)), thread_name_prefix="anthropic-judge")
        failure: ApiCallFailed | None = None
        try:
            futures = [pool.submit(one, key, q, a) for key, (q, a) in todo.items()]
            for future in as_completed(futures):
                try:
                    future.result()
                except ApiCallFailed as error:
                    failure = failure or error
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        if failure is not None:
            how = (f"gave up after {failure.attempts} attempts (each with the SDK's own retries)" if failure.retryable
                   else "not retryable")
            raise JudgeAPIError(
                f"anthropic judge ({self.model}, {rubric.name}): a request failed with {failure.description} ({how}). "
                f"{judged[0]} of {len(todo)} uncached judgments were made and cached before stopping "
                f"({n_cached} were cached already); a rerun requests only the rest."
            ) from failure

    def _record_path(self, batch_id: str) -> Path:
        name = batch_id if _SAFE_ID.fullmatch(batch_id) else hashlib.sha256(batch_id.encode()).hexdigest()
        return self.batch_dir / f"{name}.json"

    def pending_batches(self) -> list[dict]:
        """Persisted batches of this backend and model that were created but not fully collected."""
        records = []
        if not self.batch_dir.is_dir():
            return records
        for path in sorted(self.batch_dir.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                log.warning("anthropic judge: ignoring unreadable batch record %s", path)
                continue
            if record.get("backend") == self.backend and record.get("model") == self.model:
                records.append(record)
        return records

    def _judge_batches(self, todo: dict[str, tuple[str, str]], rubric: Rubric, results: dict[str, dict],
                       n_cached: int) -> None:
        remaining = dict(todo)
        submissions = {key: 0 for key in remaining}
        failures: dict[str, str] = {}  # key -> reason of its last retryable failure
        rejected: dict[str, str] = {}  # key -> reason (invalid request: resubmitting would not help)
        resumed = [r for r in self.pending_batches() if not remaining.keys().isdisjoint(r["custom_ids"])]
        for record in resumed:
            log.info("anthropic judge: resuming persisted batch %s (%d requests) instead of creating a new one",
                     record["batch_id"], len(record["custom_ids"]))
            for key in record["custom_ids"]:
                if key in submissions:
                    submissions[key] += 1
        self._run_batches(resumed, results, remaining, failures, rejected)
        while True:
            to_submit = [key for key in remaining if key not in rejected and submissions[key] < self.max_attempts]
            if not to_submit:
                break
            for key in to_submit:
                submissions[key] += 1
            created = self._create_batches([(key, remaining[key]) for key in to_submit], rubric)
            self._run_batches(created, results, remaining, failures, rejected)
        if remaining:
            judged = len(todo) - len(remaining)
            if rejected:
                problem = f"{len(rejected)} requests were rejected as invalid (e.g. {next(iter(rejected.values()))})"
            else:
                example = next((failures[k] for k in remaining if k in failures), "no result")
                problem = (f"{len(remaining)} requests still had no result after {self.max_attempts} batch "
                           f"submissions (last: {example})")
            raise JudgeAPIError(
                f"anthropic judge ({self.model}, {rubric.name}, batches): {problem}. {judged} of {len(todo)} uncached "
                f"judgments were made and cached ({n_cached} were cached already); a rerun requests only the rest."
            )

    def _create_batches(self, work: list[tuple[str, tuple[str, str]]], rubric: Rubric) -> list[dict]:
        chunks: list[list[dict]] = []
        size = 0
        for key, (question, answer) in work:
            request = {"custom_id": key, "params": self.request_params(question, answer, rubric)}
            request_bytes = len(json.dumps(request, ensure_ascii=False).encode()) + 2
            if not chunks or len(chunks[-1]) >= self.max_batch_requests or size + request_bytes > self.max_batch_bytes:
                chunks.append([])
                size = 0
            chunks[-1].append(request)
            size += request_bytes
        created = []
        self.batch_dir.mkdir(parents=True, exist_ok=True)
        for chunk in chunks:
            batch = self._retry(lambda: self.client.messages.batches.create(requests=chunk),
                                f"anthropic judge ({rubric.name}): creating a message batch")
            # the rubric is kept whole: a restarted job parses the batch's replies with it
            record = {"batch_id": batch.id, "backend": self.backend, "model": self.model, "metric": rubric.name,
                      "rubric": {"template": rubric.template, "scale": rubric.scale, "words": list(rubric.words)},
                      "prompt_hash": rubric.key_hash, "created_at": time.time(),
                      "custom_ids": [request["custom_id"] for request in chunk]}
            write_json(record, self._record_path(batch.id))  # before any poll: a restart finds and polls this batch
            log.info("anthropic judge: created message batch %s with %d requests (%s)", batch.id, len(chunk), rubric.name)
            created.append(record)
        return created

    def _run_batches(self, records: list[dict], results: dict[str, dict], remaining: dict[str, tuple[str, str]],
                     failures: dict[str, str], rejected: dict[str, str]) -> None:
        """Poll `records` until each has ended, collecting each one's results as soon as it ends."""
        waiting = {record["batch_id"]: record for record in records}
        while waiting:
            for batch_id in list(waiting):
                batch = self._retry(lambda: self.client.messages.batches.retrieve(batch_id),
                                    f"anthropic judge: polling message batch {batch_id}")
                if batch.processing_status == "ended":
                    self._collect(waiting.pop(batch_id), results, remaining, failures, rejected)
                else:
                    counts = batch.request_counts
                    log.info("anthropic judge: batch %s %s (%d processing, %d succeeded)", batch_id,
                             batch.processing_status, counts.processing, counts.succeeded)
            if waiting:
                self.sleep(self.poll_interval_s)

    def _collect(self, record: dict, results: dict[str, dict], remaining: dict[str, tuple[str, str]],
                 failures: dict[str, str], rejected: dict[str, str]) -> None:
        batch_id = record["batch_id"]
        saved = record.get("rubric")  # batch records written before rubrics name an EM metric only
        rubric = Rubric(record["metric"], saved["template"], saved["scale"], tuple(saved["words"])) if saved \
            else record["metric"]
        ids = set(record["custom_ids"])

        def stream() -> dict[str, tuple[str, str]]:
            outcome: dict[str, tuple[str, str]] = {}  # custom_id -> ("retry" | "rejected", reason)
            buffer: list[tuple[str, dict]] = []
            for line in self.client.messages.batches.results(batch_id):
                custom_id, result = line.custom_id, line.result
                if custom_id not in ids:
                    log.warning("anthropic judge: batch %s returned an unknown custom_id; ignored", batch_id)
                    continue
                if result.type == "succeeded":
                    if custom_id not in self.cache:  # a re-streamed result (after a retry) is stored once
                        self._count_usage(result.message, batch=True)
                        buffer.append((custom_id, record_from_message(result.message, rubric)))
                    outcome.pop(custom_id, None)
                elif result.type == "errored":
                    error = getattr(result.error, "error", None)
                    kind = getattr(error, "type", None) or "error"
                    reason = f"errored ({kind}: {str(getattr(error, 'message', ''))[:200]})"
                    outcome[custom_id] = ("rejected" if kind == "invalid_request_error" else "retry", reason)
                else:  # expired, canceled
                    outcome[custom_id] = ("retry", result.type)
                if len(buffer) >= 256:
                    self.cache.put_many(buffer)
                    buffer = []
            self.cache.put_many(buffer)
            return outcome

        outcome = self._retry(stream, f"anthropic judge: reading the results of message batch {batch_id}")
        for custom_id in ids:
            cached = self.cache.peek(custom_id)
            if cached is not None:
                if custom_id in remaining:
                    results[custom_id] = cached
                    del remaining[custom_id]
                continue
            kind, reason = outcome.get(custom_id, ("retry", "no result in the batch"))
            if custom_id in remaining:
                (rejected if kind == "rejected" else failures)[custom_id] = reason
        n_failed = sum(1 for custom_id in ids if custom_id in outcome)
        log.info("anthropic judge: collected message batch %s (%d requests, %d without a judgment)", batch_id,
                 len(ids), n_failed)
        self._record_path(batch_id).unlink(missing_ok=True)  # every result is cached or queued for resubmission
