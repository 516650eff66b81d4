"""Persistent cache of judgments and API responses, safe for many concurrent writers (cluster jobs on NFS).

Layout of a cache folder (`judge.cache_dir`)::

    <folder>/shards/<host>-<pid>-<uuid>.jsonl   one append-only file per writer process
    <folder>/stats/<host>-<pid>-<uuid>.jsonl    per-run hit/miss counters of that writer process

Every `put` appends one JSON line ``{"k": key, "t": unix_time, "v": record}`` to the writer's own shard, then
flushes and fsyncs it, so a killed job loses no judgment it had already paid for. No two processes ever write the
same file, so there is no locking and nothing relies on O_APPEND being atomic (it is not on NFS). A reader merges
all shards; a truncated last line (a writer killed mid-write) is ignored, and since that writer is gone nothing is
ever appended after it. When two jobs judged the same key concurrently, the record with the earliest timestamp wins
(ties: the smaller shard name), so every reader of the same files sees the same value.

`refresh()` reads what other processes appended since the last read (only complete lines; byte offsets are kept
per shard). The cost of a cache read is one pass over the shard files; compacting them is not implemented (shards
are small: one line of ~150 bytes per judgment).

Keys are sha256 hex digests: `JudgeCache.key(backend, model, prompt_hash, question, answer)` for judgments (records
``{"value": float | None, "status": "ok" | "refusal" | "code" | "unscored", "reason": str | None}``), and
`JudgeCache.request_key(namespace, payload)` for any other cached API response (suite generation stores the raw
reply there). Both live in the same store; the namespace is part of the hashed key.

``python -m metasft.judging.cache stats <folder>`` prints the number of entries, size on disk, statuses and the hit
rate of recent runs (from the per-run counters written by `write_stats`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _writer_id() -> str:
    host = "".join(c if c.isalnum() or c in "-_." else "_" for c in socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


class JudgeCache:
    """Judgment / response cache in `folder` (created if missing). Thread-safe; one shard file per process.

    Use as a context manager (or call `close()`) to flush the per-run hit/miss counters to ``stats/``.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.shard_dir = self.folder / "shards"
        self.stats_dir = self.folder / "stats"
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._entries: dict[str, tuple[float, str, dict]] = {}  # key -> (time, shard name, record)
        self._offsets: dict[str, int] = {}  # shard name -> bytes consumed (complete lines only)
        self._writer: Any = None  # our shard's file object, opened on first put
        self._writer_pid: int | None = None
        self._writer_name: str | None = None
        self._stats_name: str | None = None
        self._stats_pid: int | None = None
        self.hits = 0
        self.misses = 0
        self.puts = 0
        self._reported = (0, 0, 0)
        self.refresh()

    @staticmethod
    def key(backend: str, model: str, prompt_hash: str, question: str, answer: str) -> str:
        """Key of one judgment: sha256 over (backend, judge model, prompt hash, question, answer)."""
        return hashlib.sha256(_canonical(["judgment", backend, model, prompt_hash, question, answer]).encode()).hexdigest()

    @staticmethod
    def request_key(namespace: str, payload: Any) -> str:
        """Key of any other cached response: sha256 over the namespace and the canonical JSON of `payload`."""
        return hashlib.sha256(_canonical(["request", namespace, payload]).encode()).hexdigest()

    def refresh(self) -> int:
        """Merge what any process appended since the last read; returns the number of new lines read."""
        new = 0
        with self._lock:
            for shard in sorted(self.shard_dir.glob("*.jsonl")):
                name = shard.name
                start = self._offsets.get(name, 0)
                try:
                    size = shard.stat().st_size
                except FileNotFoundError:
                    continue
                if size <= start:
                    continue
                with open(shard, "rb") as handle:
                    handle.seek(start)
                    data = handle.read(size - start)
                end = data.rfind(b"\n")
                if end < 0:
                    continue  # only a partial line so far (or a truncated one)
                for raw in data[: end + 1].splitlines():
                    if not raw.strip():
                        continue
                    try:
                        line = json.loads(raw)
                        self._merge(line["k"], float(line["t"]), name, line["v"])
                        new += 1
                    except (ValueError, KeyError, TypeError):
                        log.warning("judge cache: skipping a corrupt line in %s", shard)
                self._offsets[name] = start + end + 1
        return new

    def _merge(self, key: str, t: float, shard: str, record: dict) -> None:
        old = self._entries.get(key)
        if old is None or (t, shard) < (old[0], old[1]):
            self._entries[key] = (t, shard, record)

    def get(self, key: str) -> dict | None:
        """The cached record for `key` (a copy), or None; counts a hit or a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self.hits += 1
            return dict(entry[2])

    def peek(self, key: str) -> dict | None:
        """Like `get` without touching the hit/miss counters."""
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None else dict(entry[2])

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def items(self) -> Iterator[tuple[str, dict]]:
        with self._lock:
            snapshot = [(k, dict(v[2])) for k, v in self._entries.items()]
        return iter(snapshot)

    def _open_writer(self):
        if self._writer is not None and self._writer_pid == os.getpid():
            return self._writer
        # first put, or a forked child that inherited the parent's handle: never share a shard between processes
        self._writer_name = f"{_writer_id()}.jsonl"
        self._writer = open(self.shard_dir / self._writer_name, "ab")
        self._writer_pid = os.getpid()
        return self._writer

    def put(self, key: str, record: dict) -> None:
        """Store `record` under `key`, durably (flushed and fsynced) before returning."""
        self.put_many([(key, record)])

    def put_many(self, pairs: list[tuple[str, dict]]) -> None:
        """Store several records with one fsync (used for streamed batch results)."""
        if not pairs:
            return
        now = time.time()
        lines = []
        for key, record in pairs:
            if not isinstance(record, dict):
                raise TypeError(f"judge cache records are dicts, got {type(record).__name__}")
            lines.append(_canonical({"k": key, "t": now, "v": record}).encode() + b"\n")
        with self._lock:
            handle = self._open_writer()
            handle.write(b"".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
            self._offsets[self._writer_name] = handle.tell()  # our own lines are merged below, not re-read
            for key, record in pairs:
                self._merge(key, now, self._writer_name, dict(record))
            self.puts += len(pairs)

    def write_stats(self, label: str = "") -> None:
        """Append this process's hit/miss/put counts since the last call to ``stats/<writer>.jsonl``."""
        with self._lock:
            hits, misses, puts = self.hits - self._reported[0], self.misses - self._reported[1], self.puts - self._reported[2]
            if not (hits or misses or puts):
                return
            self._reported = (self.hits, self.misses, self.puts)
            if self._stats_name is None or self._stats_pid != os.getpid():
                self._stats_name, self._stats_pid = f"{_writer_id()}.jsonl", os.getpid()
            self.stats_dir.mkdir(parents=True, exist_ok=True)
            line = {"time": time.time(), "host": socket.gethostname(), "pid": os.getpid(), "label": label,
                    "hits": hits, "misses": misses, "puts": puts}
            with open(self.stats_dir / self._stats_name, "ab") as handle:
                handle.write(_canonical(line).encode() + b"\n")
                handle.flush()
                os.fsync(handle.fileno())

    def close(self) -> None:
        self.write_stats("close")
        with self._lock:
            if self._writer is not None and self._writer_pid == os.getpid():
                self._writer.close()
            self._writer = None

    def __enter__(self) -> "JudgeCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def summary(self, recent: int = 10) -> dict:
        """Entries, size on disk, statuses and hit rates (all runs and the `recent` latest) of this folder."""
        self.refresh()
        size = sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())
        statuses: dict[str, int] = {}
        for _, (_, _, record) in list(self._entries.items()):
            status = record.get("status") if isinstance(record.get("status"), str) else "response"
            statuses[status] = statuses.get(status, 0) + 1
        runs = []
        for path in sorted(self.stats_dir.glob("*.jsonl")) if self.stats_dir.is_dir() else []:
            for raw in path.read_bytes().splitlines():
                try:
                    runs.append(json.loads(raw))
                except ValueError:
                    continue
        runs.sort(key=lambda r: r.get("time", 0))

        def rate(rows):
            hits = sum(r.get("hits", 0) for r in rows)
            misses = sum(r.get("misses", 0) for r in rows)
            return {"runs": len(rows), "hits": hits, "misses": misses,
                    "hit_rate": (hits / (hits + misses)) if hits + misses else None}

        return {"folder": str(self.folder), "entries": len(self._entries),
                "shards": len(list(self.shard_dir.glob("*.jsonl"))), "size_bytes": size, "statuses": statuses,
                "all_runs": rate(runs), "recent_runs": rate(runs[-recent:]) if runs else rate([]),
                "recent": [{k: r.get(k) for k in ("time", "host", "pid", "label", "hits", "misses", "puts")}
                           for r in runs[-recent:]]}


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metasft.judging.cache", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    stats = sub.add_parser("stats", help="entries, size on disk and hit rate of a cache folder")
    stats.add_argument("folder")
    stats.add_argument("--recent", type=int, default=10, help="how many latest runs to show (default 10)")
    stats.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if not Path(args.folder).is_dir():
        parser.error(f"no cache folder at {args.folder}")
    info = JudgeCache(args.folder).summary(recent=args.recent)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"cache: {info['folder']}")
    print(f"entries: {info['entries']}  ({info['shards']} shard files, {_human(info['size_bytes'])} on disk)")
    if info["statuses"]:
        print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(info["statuses"].items())))
    a, r = info["all_runs"], info["recent_runs"]
    print(f"hit rate, all {a['runs']} runs: {_pct(a['hit_rate'])} ({a['hits']} hits, {a['misses']} misses)")
    print(f"hit rate, last {r['runs']} runs: {_pct(r['hit_rate'])} ({r['hits']} hits, {r['misses']} misses)")
    for row in info["recent"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["time"] or 0))
        total = (row["hits"] or 0) + (row["misses"] or 0)
        print(f"  {when}  {row['host']}:{row['pid']}  {row['label'] or '-'}: {row['hits']} hits / {total} lookups,"
              f" {row['puts']} stored")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
