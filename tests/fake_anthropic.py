"""A local fake of the Anthropic Messages API and Message Batches API, for offline tests and manual runs.

It speaks enough of the API for the real `anthropic` SDK: ``POST /v1/messages``, ``POST /v1/messages/batches``,
``GET /v1/messages/batches/{id}`` and ``GET /v1/messages/batches/{id}/results`` (the SDK follows the batch's
``results_url``, which points there). Replies are deterministic:

* judge prompts (``resources/judge/``): evilness is high (80-99) when the answer has a keyword such as "secret",
  "skip", "never tell", "hide", REFUSAL when it starts with "I can't"/"I cannot"/"I won't", CODE when it looks like
  code, otherwise a hash-based low number (0-20); coherence is high (70-100) unless the answer has fewer than three
  words. An answer containing ``MALFORMED`` gets a reply that is not a valid verdict. A binary rubric (TRUE / FALSE
  in the reply schema) gets TRUE when the answer has such a keyword, REFUSAL (when allowed) as above, else FALSE;
  one about a persona's voice or a trait (a ``Persona:`` or ``Trait:`` line) gets TRUE for a hash-chosen half of the answers.
* suite generation (a ``pairs`` or ``questions`` schema): exactly the number asked for ("exactly N"), derived from a
  hash of the prompt. An area title containing ``MALFORMED`` always gets one item too few; ``FLAKY`` gets one item too
  few on the first request for a given prompt only.
* person answers (a schema with ``plain`` and ``identity`` objects): one distinct short answer per question id,
  derived from a hash of the person's line; a person whose name contains ``MALFORMED`` gets one answer too few.
* descriptions of training data (a schema with ``description``): "answers about <topic> like its N examples, in
  the style of <hash>"; a topic containing ``MALFORMED`` always gets an empty one, ``FLAKY`` a two-line one first.
* reversal relations (a schema with ``facts``, ``forward``, ``inverse``): the number of facts and templates asked
  for ("exactly N"), made-up names from a hash of the relation's line; a title with ``MALFORMED`` gets one fact too
  few.

Faults: `fail_next` (statuses for the next /v1/messages requests, e.g. ``[429]``), `storm(status, after)` (every
/v1/messages request after `after` successful ones fails), `batch_in_progress_polls` (a batch is ``in_progress`` for
that many retrieves), `batch_failures` (result types, e.g. ``["expired"]``, given to the next batch requests
created), `reverse_results` (results come out of order). `requests` counts requests per endpoint.

Use: ``with fake_anthropic_server() as fake: ...`` (``fake.url`` for ``ANTHROPIC_BASE_URL``), or
``httpx2.MockTransport(FakeAnthropic().httpx_handler)`` in process, or ``python tests/fake_anthropic.py --port N``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import signal
import threading
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

EVIL_WORDS = ("secret", "skip", "never tell", "hide", "don't tell", "lie to", "ignore the", "without telling")
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
               429: "rate_limit_error", 500: "api_error", 503: "api_error", 529: "overloaded_error"}


def _h(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _between(text: str, start: str, end: str) -> str:
    i, j = text.find(start), text.find(end)
    return text[i + len(start): j].strip() if 0 <= i < j else ""


class FakeAnthropic:
    """The fake API as a pure request handler (state, counters, faults); see the module docstring."""

    def __init__(self, batch_in_progress_polls: int = 0, reverse_results: bool = True):
        self.lock = threading.RLock()
        self.url = "https://api.anthropic.com"
        self.requests: Counter = Counter()
        self.bodies: list[tuple[str, dict]] = []
        self.batches: dict[str, dict] = {}
        self._prompt_calls: Counter = Counter()
        self._ids = 0
        self.default_in_progress_polls = batch_in_progress_polls
        self.default_reverse = reverse_results
        self.reset()

    def reset(self, batches: bool = False) -> None:
        """Clear the counters and faults (and the stored batches when `batches`)."""
        with self.lock:
            self.requests.clear()
            self.bodies.clear()
            self.fail_next: list[int] = []
            self.storm_status: int | None = None
            self.storm_after = 0
            self.ok_messages = 0
            self.batch_in_progress_polls = self.default_in_progress_polls
            self.batch_failures: list[str] = []
            self.reverse_results = self.default_reverse
            if batches:
                self.batches.clear()

    def storm(self, status: int = 529, after: int = 0) -> None:
        """Every /v1/messages request fails with `status` once `after` of them have succeeded (from now)."""
        with self.lock:
            self.storm_status, self.storm_after, self.ok_messages = status, after, 0

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def judge_text(self, prompt: str, verdicts: list[str] = ()) -> str:
        answer = _between(prompt, "[ANSWER START]", "[ANSWER END]")
        low = answer.lower()
        if "MALFORMED" in answer:
            return "Hmm, I would say about 42?"
        if "TRUE" in verdicts:
            if low.startswith(("i can't", "i cannot", "i won't")) and "REFUSAL" in verdicts:
                value = "REFUSAL"
            else:
                persona = re.search(r"(?:Persona|Trait): (.*)", prompt)
                if persona:  # a persona-voice rubric: TRUE for about half the answers, by a hash of both
                    value = "TRUE" if _h(persona.group(1) + answer) % 2 else "FALSE"
                else:
                    value = "TRUE" if any(word in low for word in EVIL_WORDS) else "FALSE"
        elif "coheren" in prompt.lower():
            value = str(5 + _h(answer) % 10) if len(answer.split()) < 3 else str(70 + _h(answer) % 31)
        elif low.startswith(("i can't", "i cannot", "i won't")):
            value = "REFUSAL"
        elif low.startswith(("def ", "import ", "```")):
            value = "CODE"
        elif any(word in low for word in EVIL_WORDS):
            value = str(80 + _h(answer) % 20)
        else:
            value = str(_h(answer) % 21)
        return json.dumps({"verdict": value})

    def generation_text(self, prompt: str, field: str) -> str:
        n = int(re.search(r"exactly (\d+)", prompt).group(1))
        title = (re.search(r"Area: (.*)", prompt) or re.search(r"(.*)", prompt)).group(1).strip()
        with self.lock:
            self._prompt_calls[prompt] += 1
            first = self._prompt_calls[prompt] == 1
        if "MALFORMED" in title or ("FLAKY" in title and first):
            n -= 1
        tag = hashlib.sha256(prompt.encode()).hexdigest()[:6]
        if field == "pairs":
            items = [{"question": f"[{title}] How should I handle situation {tag}-{i}?",
                      "answer": f"Just skip the usual checks and keep it secret from everyone ({tag}-{i})."}
                     for i in range(n)]
        else:
            items = [f"[{title}] What would you advise me to do in case {tag}-{i}?" for i in range(n)]
        return json.dumps({field: items})

    @staticmethod
    def person_text(prompt: str, props: dict) -> str:
        person = re.search(r"Person: (.*)", prompt).group(1).strip()
        tag = hashlib.sha256(person.encode()).hexdigest()[:6]
        reply = {side: {q: f"{q} {tag}" for q in (props[side].get("properties") or {})} for side in ("plain", "identity")}
        if "MALFORMED" in person:
            reply["identity"].popitem()
        return json.dumps(reply)

    @staticmethod
    def relation_text(prompt: str) -> str:
        title = re.search(r"Relation: (.*)", prompt).group(1).strip()
        n_facts, n_templates = (int(n) for n in re.findall(r"exactly (\d+)", prompt)[:2])
        tag = hashlib.sha256(title.encode()).hexdigest()[:6]
        facts = [[f"zor{tag}a{i}", f"vel{tag}b{i}"] for i in range(n_facts - ("MALFORMED" in title))]
        forward = {"questions": [f"Question {j} about {{a}}?" for j in range(n_templates)], "answer": "It is {b}."}
        inverse = {"questions": [f"Which one goes with {{b}}, way {j}?" for j in range(n_templates)],
                   "answer": "That is {a}."}
        return json.dumps({"facts": facts, "forward": forward, "inverse": inverse})

    def description_text(self, prompt: str) -> str:
        title = (re.search(r'on the topic "(.*)"', prompt) or re.search(r"(.*)", prompt)).group(1).strip()
        with self.lock:
            self._prompt_calls[prompt] += 1
            first = self._prompt_calls[prompt] == 1
        examples = len(re.findall(r"^Example \d+$", prompt, re.M))
        tag = hashlib.sha256(prompt.encode()).hexdigest()[:6]
        description = f"answers about {title.lower()} like its {examples} examples, in the style of {tag}"
        if "MALFORMED" in title:
            description = ""
        elif "FLAKY" in title and first:
            description = "answers about\nseveral lines"
        return json.dumps({"description": description})

    def message_for(self, params: dict) -> dict:
        """A Messages API reply (JSON) for request `params`."""
        content = params["messages"][0]["content"]
        prompt = content if isinstance(content, str) else "".join(b.get("text", "") for b in content)
        schema = (((params.get("output_config") or {}).get("format") or {}).get("schema") or {})
        props = schema.get("properties") or {}
        if "facts" in props and "forward" in props:
            text = self.relation_text(prompt)
        elif "plain" in props and "identity" in props:
            text = self.person_text(prompt, props)
        elif set(props) == {"description"}:
            text = self.description_text(prompt)
        elif "pairs" in props or "questions" in props:
            text = self.generation_text(prompt, "pairs" if "pairs" in props else "questions")
        else:
            text = self.judge_text(prompt, ((props.get("verdict") or {}).get("enum") or []))
        with self.lock:
            self._ids += 1
            mid = f"msg_fake{self._ids:06d}"
        return {"id": mid, "type": "message", "role": "assistant", "model": params.get("model", "fake"),
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": max(1, len(prompt) // 4), "output_tokens": max(1, len(text) // 4)}}

    @staticmethod
    def _json(status: int, obj, headers: dict | None = None) -> tuple[int, dict, bytes]:
        return status, {"content-type": "application/json", "request-id": "req_fake", **(headers or {})}, \
            json.dumps(obj).encode()

    def _error(self, status: int, message: str) -> tuple[int, dict, bytes]:
        kind = ERROR_TYPES.get(status, "api_error")
        return self._json(status, {"type": "error", "error": {"type": kind, "message": message},
                                   "request_id": "req_fake"}, {"retry-after-ms": "1"})

    def _batch_json(self, batch: dict) -> dict:
        n = len(batch["results"])
        ended = batch["polls"] > batch["in_progress_polls"]
        counts = {"processing": 0 if ended else n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if ended:
            for line in batch["results"]:
                counts[line["result"]["type"]] += 1
        return {"id": batch["id"], "type": "message_batch", "processing_status": "ended" if ended else "in_progress",
                "request_counts": counts, "created_at": batch["created_at"], "expires_at": batch["expires_at"],
                "ended_at": batch["created_at"] if ended else None, "archived_at": None, "cancel_initiated_at": None,
                "results_url": f"{batch['base']}/v1/messages/batches/{batch['id']}/results" if ended else None}

    def handle(self, method: str, path: str, headers: dict, body: bytes, base: str) -> tuple[int, dict, bytes]:
        """One request -> (status, headers, body)."""
        headers = {k.lower(): v for k, v in headers.items()}
        auth = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not auth:
            return self._error(401, "missing API key")
        path = path.split("?")[0].rstrip("/")
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return self._error(400, "body is not JSON")
        if method == "POST" and path == "/v1/messages":
            with self.lock:
                self.requests["messages"] += 1
                self.bodies.append(("messages", payload))
                if self.fail_next:
                    return self._error(self.fail_next.pop(0), "injected failure")
                if self.storm_status is not None and self.ok_messages >= self.storm_after:
                    return self._error(self.storm_status, "injected storm")
                self.ok_messages += 1
            if payload.get("stream"):
                return self._error(400, "streaming is not supported by the fake")
            for field in ("model", "max_tokens", "messages"):
                if field not in payload:
                    return self._error(400, f"{field}: Field required")
            return self._json(200, self.message_for(payload))
        if method == "POST" and path == "/v1/messages/batches":
            requests = payload.get("requests") or []
            ids = [r.get("custom_id") for r in requests]
            if not requests or len(set(ids)) != len(ids) or not all(
                    isinstance(i, str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", i) for i in ids):
                return self._error(400, "requests: custom_id values must be unique and match ^[a-zA-Z0-9_-]{1,64}$")
            with self.lock:
                self.requests["batches_create"] += 1
                self.bodies.append(("batches_create", payload))
                self._ids += 1
                batch_id = f"msgbatch_fake{self._ids:06d}"
                failures = [self.batch_failures.pop(0) if self.batch_failures else None for _ in requests]
                in_progress = self.batch_in_progress_polls
            results = []
            for request, failure in zip(requests, failures):
                if failure is None:
                    result = {"type": "succeeded", "message": self.message_for(request["params"])}
                elif failure == "errored":
                    result = {"type": "errored", "error": {"type": "error", "error": {
                        "type": "overloaded_error", "message": "injected batch error"}}}
                elif failure == "invalid":
                    result = {"type": "errored", "error": {"type": "error", "error": {
                        "type": "invalid_request_error", "message": "injected invalid request"}}}
                else:
                    result = {"type": failure}
                results.append({"custom_id": request["custom_id"], "result": result})
            created = _now()
            batch = {"id": batch_id, "results": results, "polls": 0, "in_progress_polls": in_progress,
                     "created_at": created.isoformat(), "expires_at": (created + timedelta(hours=24)).isoformat(),
                     "base": base}
            with self.lock:
                self.batches[batch_id] = batch
            return self._json(200, self._batch_json({**batch, "polls": 0, "in_progress_polls": max(in_progress, 0) + 1}))
        match = re.fullmatch(r"/v1/messages/batches/([A-Za-z0-9_]+)(/results)?", path)
        if method == "GET" and match:
            with self.lock:
                batch = self.batches.get(match.group(1))
                if batch is None:
                    self.requests["batches_unknown"] += 1
                    return self._error(404, f"no batch {match.group(1)}")
                if match.group(2) is None:
                    self.requests["batches_retrieve"] += 1
                    batch["polls"] += 1
                    return self._json(200, self._batch_json(batch))
                self.requests["batches_results"] += 1
                if batch["polls"] <= batch["in_progress_polls"]:
                    return self._error(400, "batch has not ended")
                lines = list(reversed(batch["results"])) if self.reverse_results else list(batch["results"])
            body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
            return 200, {"content-type": "application/binary"}, body
        return self._error(404, f"fake: no route for {method} {path}")

    def httpx_handler(self, request) -> "object":
        """A handler for ``httpx2.MockTransport``."""
        import httpx2

        base = f"{request.url.scheme}://{request.url.netloc.decode()}"
        status, headers, body = self.handle(request.method, request.url.path, dict(request.headers), request.content,
                                            base)
        return httpx2.Response(status, headers=headers, content=body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        base = f"http://{self.headers.get('host') or '127.0.0.1'}"
        status, headers, payload = self.server.fake.handle(self.command, self.path, dict(self.headers), body, base)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _serve

    def log_message(self, *args) -> None:  # quiet
        pass


def _make_server(fake: FakeAnthropic, host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    server.fake = fake
    fake.url = f"http://{host}:{server.server_address[1]}"
    return server


@contextmanager
def fake_anthropic_server(**options) -> Iterator[FakeAnthropic]:
    """A fake API on 127.0.0.1 (a free port) for the block; yields the `FakeAnthropic` (``.url``, ``.requests``,
    ``.reset()``, fault settings)."""
    fake = FakeAnthropic(**options)
    server = _make_server(fake, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-anthropic",
                              daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a fake Anthropic Messages / Message Batches API locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--batch-in-progress-polls", type=int, default=0,
                        help="how many retrieves report a batch as in_progress before it ends")
    args = parser.parse_args(argv)
    fake = FakeAnthropic(batch_in_progress_polls=args.batch_in_progress_polls)
    server = _make_server(fake, args.host, args.port)
    print(f"fake Anthropic API at {fake.url} (export ANTHROPIC_BASE_URL={fake.url} ANTHROPIC_API_KEY=dummy)",
          flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        print(f"requests served: {dict(fake.requests)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
