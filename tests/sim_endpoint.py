"""A simulated OpenAI-compatible chat endpoint for scale and fault tests (test tooling only).

It answers `POST /v1/chat/completions` and `GET /v1/models` on 127.0.0.1 only, after a fixed
latency plus completion tokens ÷ token rate, with replies that fit what Symposia asks for: a
valid experience for the experience schema, an enum name for the speaker-choice schema, a short
varied line otherwise; a one-token request with `logprobs` (a judge's score call) gets a score
digit and the first token's top candidates (see `_score_logprobs`). A fraction of requests fail on
purpose (429 with Retry-After, 500, a hang longer than the client's timeout, an invalid JSON body,
an empty reply, an unknown speaker name; and, only when asked for, a 400 request rejection).
It can also play servers that differ in structured output: `--accept-formats text,json_object`
answers a `json_schema` response format with HTTP 500 and a request validation error, as
llama-cpp-python's server does; `--ignore-schema` accepts schemas without enforcing them. A
request without a response format whose prompt carries a schema (structured_output: prompt) gets
the JSON wrapped in a sentence and a code fence, as a chatty model answers; `--no-logprobs` never
returns logprobs.
It is bounded: it stops by itself after `max_requests` requests or `max_seconds` seconds.
`GET /stats` returns counts and the tokens of every successful reply (for accounting tests).

    python -m tests.sim_endpoint --latency 0.05 --fault-rate 0.2 --max-seconds 120
    (prints "PORT <n>" on stdout once listening)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # never reachable from another machine
FAULTS = ("rate_limit", "server_error", "timeout", "invalid_json", "empty", "unknown_speaker")
# Faults a retry cannot fix; never in the default rotation, only when named (--faults, --fail-requests).
REQUEST_FAULTS = ("bad_request",)
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
PROMPT_SCHEMA_MARKER = "It must match this JSON schema:\n"  # orchestrator/models/structured_output.py
NAMES = ("Mara", "Joel", "Ines", "Kofi", "Petra", "Ravi", "Lucia", "Oskar")
WORDS = ("garden", "train", "recipe", "weekend", "budget", "concert", "puppy", "exam", "roof", "market",
         "bicycle", "letter", "storm", "lantern", "harbour", "violin", "orchard", "ticket", "novel", "kettle")
# Persona lines pass the reply checks and the default rule critics: no two open with the same
# three words (word, verb, word: 4,000 combinations) and no four-word run recurs by design.
VERBS = ("beats", "needs", "costs", "matches", "follows", "outlasts", "suits", "rivals", "tops", "echoes")
TAILS = ("honestly", "I think", "for sure", "right now", "no doubt", "if anything")
STYLES = ("Short and friendly.", "Slow and careful.", "Loud, lots of jokes.", "Quiet, asks questions.",
          "Formal and precise.", "Warm, tells stories.", "Blunt and quick.", "Dreamy, drifts off.")


@dataclass
class SimSettings:
    latency: float = 0.05  # seconds before every reply
    token_rate: float = 0.0  # completion tokens per second on top of the latency; 0 = instant
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULTS
    retry_after: float = 0.05  # seconds, sent in Retry-After on 429
    hang_seconds: float = 5.0  # a "timeout" fault holds the request this long, then closes
    max_requests: int = 100_000
    max_seconds: float = 600.0
    seed: int = 0
    # request number (1-based, counted as they arrive) -> the fault it gets, whatever the fault
    # rate: a test that must see given faults injected does not depend on the RNG or on ordering
    scheduled: dict[int, str] = field(default_factory=dict)
    logprob_bytes: bool = True  # False: candidates without `bytes`, as llama-cpp-python's server sends
    accept_formats: tuple[str, ...] = RESPONSE_FORMATS  # response_format types answered; others get a 500
    ignore_schema: bool = False  # True: schemas in a response format are accepted and not enforced
    logprobs: bool = True  # False: logprobs are never returned
    fault_free_requests: int = 0  # the first N requests get no fault (a run's preflight probes)


@dataclass
class SimStats:
    requests: int = 0
    ok: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    late_seconds: float = 0.0  # how much later than asked the latency sleeps ended (a busy machine)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "ok": self.ok, "faults": dict(self.faults),
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "late_seconds": round(self.late_seconds, 3), "cpu_seconds": round(time.process_time(), 3)}


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _experience(count: int, rng: random.Random, pinned: list[str] | None = None) -> dict[str, Any]:
    names = pinned or rng.sample(NAMES, count)
    count = len(names)
    # distinct words and styles per person: participants sharing a whole field are clones
    things, styles = rng.sample(WORDS, 3 * count), rng.sample(STYLES, count)
    people = [{
        "name": n, "age": rng.randint(18, 80), "qualities": ["kind", things[3 * i]],
        "lifestyle": f"{things[3 * i + 1].capitalize()} on weekday evenings.", "speech_style": styles[i],
        "memory": {"recent": f"Lost a {things[3 * i + 2]} last week.", "long_term": f"Grew up in {n}'s home town."},
    } for i, n in enumerate(names)]
    relations = [{"person_a": a, "person_b": b, "relation": "old friends"} for a, b in itertools.pairwise(names)]
    # a frame of word pairs: an experience copying a shot's situation, topic or starter is rejected
    a, b, c, d = rng.sample(WORDS, 4)
    return {"participants": people, "relations": relations, "situation": f"Planning a {a} trip with the {b}.",
            "topic": f"the {c} and the {d}",
            "starter": {"speaker": names[0], "text": f"Shall we start with the {c} or the {b}?"}}


def _schema_reply(schema: dict[str, Any], rng: random.Random, unknown_speaker: bool) -> str:
    props = schema.get("properties", {})
    if "next_speaker" in props:
        names = props["next_speaker"].get("enum") or [props["next_speaker"].get("const", "x")]
        return json.dumps({"next_speaker": "Nobody_Here" if unknown_speaker else rng.choice(names)})
    if "participants" in props:
        count = props["participants"].get("minItems", 3)
        # names pinned in the schema (one `const` per tuple item) are the ones to use
        defs = schema.get("$defs", {})
        items = [defs.get(str(i.get("$ref", "")).rsplit("/", 1)[-1], i) for i in props["participants"].get(
            "prefixItems", [])]
        pinned = [i.get("properties", {}).get("name", {}).get("const") for i in items]
        return json.dumps(_experience(count, rng, pinned if pinned and all(pinned) else None))
    if "verdict" in props:  # a gate critic
        return json.dumps({"rationale": "The lines fit the people and stay civil.", "verdict": "pass"})
    if "score" in props:  # a quality critic
        return json.dumps({"rationale": "It reads like a real chat.", "score": rng.choice([3, 4, 5])})
    return json.dumps({k: rng.choice(props.get(k, {}).get("enum") or ["ok"]) for k in schema.get("required", [])})


MAX_TOP_LOGPROBS = 20  # OpenAI's bound


def _score_logprobs(number: int, top: int, with_bytes: bool) -> tuple[str, dict[str, Any]]:
    """A one-token score reply that depends on the request number, so a test can tell a cached
    answer (same logprobs as before) from a fresh one: digit d = 1 + number % 5 has p=0.6, the next
    digit up (or down from 5) 0.3, and the non-digit "The" 0.1; the reply is d."""
    digit = 1 + number % 5
    other = digit + 1 if digit < 5 else 4
    probs = [(str(digit), 0.6), (str(other), 0.3), ("The", 0.1)]

    def entry(token: str, p: float) -> dict[str, Any]:
        found: dict[str, Any] = {"token": token, "logprob": math.log(p)}
        found["bytes"] = list(token.encode()) if with_bytes else None
        return found

    first = {**entry(str(digit), 0.6), "top_logprobs": [entry(t, p) for t, p in probs[:top]]}
    return str(digit), {"content": [first]}


def _prompted_schema(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The schema a `prompt`-mode request carries at the end of its last message, if any."""
    last = str(messages[-1].get("content", "")) if messages else ""
    if PROMPT_SCHEMA_MARKER not in last:
        return None
    try:
        found = json.loads(last.rsplit(PROMPT_SCHEMA_MARKER, 1)[1])
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _format_rejection(kind: object, accepted: tuple[str, ...]) -> bytes:
    """llama-cpp-python's server's answer to a response format it does not take (HTTP 500)."""
    allowed = " or ".join(f"'{a}'" for a in accepted)
    detail = (f"1 validation error:\n  {{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
              f"'msg': \"Input should be {allowed}\", 'input': {kind!r}}}\n")
    return json.dumps({"error": {"message": detail, "type": "internal_server_error"}}).encode()


class SimEndpoint:
    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.stats = SimStats()
        self._rng = random.Random(settings.seed)
        self._fault_turns: Counter[str] = Counter()  # per request kind, the next fault in rotation
        self._server: asyncio.AbstractServer | None = None
        self._done = asyncio.Event()
        self.port = 0

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, HOST, port, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        asyncio.get_running_loop().call_later(self.settings.max_seconds, self._done.set)
        return self.port

    async def wait_closed(self) -> None:
        await self._done.wait()
        await self.stop()

    async def stop(self) -> None:
        self._done.set()
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while not self._done.is_set():
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                pairs = (line.partition(":") for line in lines[1:] if line)
                headers = {k.strip().lower(): v.strip() for k, _, v in pairs}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if not await self._respond(method, path, body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # shutting down with keep-alive connections open; not an error worth a traceback
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def _pick_fault(self, schema: dict[str, Any] | None) -> str | None:
        """The next fault that fits this kind of request, in rotation per kind, so every kind
        shows up once a handful of requests of that kind failed (a random pick left a rare
        kind out of a short run now and then)."""
        speaker = bool(schema and "next_speaker" in schema.get("properties", {}))
        kind = "speaker" if speaker else "structured" if schema else "text"
        fits = [f for f in self.settings.faults
                if (f != "unknown_speaker" or speaker)  # only meaningful for speaker choices
                and (f != "empty" or kind != "structured")]  # an empty structured reply is invalid JSON
        if not fits:
            return None
        turn = self._fault_turns[kind]
        self._fault_turns[kind] += 1
        return fits[turn % len(fits)]

    @staticmethod
    def _write(writer: asyncio.StreamWriter, status: str, payload: bytes, extra: dict[str, str] | None = None) -> None:
        head = [f"HTTP/1.1 {status}", "content-type: application/json", f"content-length: {len(payload)}",
                "connection: keep-alive", *(f"{k}: {v}" for k, v in (extra or {}).items())]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)

    async def _respond(self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter) -> bool:
        if method == "GET" and path.rstrip("/").endswith("/models"):
            models = {"object": "list", "data": [{"id": "sim", "object": "model"}]}
            self._write(writer, "200 OK", json.dumps(models).encode())
            return True
        if method == "GET" and path.rstrip("/").endswith("/stats"):
            self._write(writer, "200 OK", json.dumps(self.stats.as_dict()).encode())
            return True
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            self._write(writer, "404 Not Found", b'{"error": {"message": "not found"}}')
            return True
        self.stats.requests += 1
        if self.stats.requests >= self.settings.max_requests:
            asyncio.get_running_loop().call_later(1.0, self._done.set)
        request = json.loads(body)
        response_format = request.get("response_format") or {}
        if response_format.get("type", "text") not in self.settings.accept_formats:
            self._write(writer, "500 Internal Server Error", _format_rejection(response_format.get("type"),
                                                                              self.settings.accept_formats))
            return True
        schema = (response_format.get("json_schema", {}).get("schema") if response_format.get("type") == "json_schema"
                  else response_format.get("schema"))
        prompted = None if response_format else _prompted_schema(request.get("messages", []))
        if self.settings.ignore_schema:
            schema = None
        fault = self.settings.scheduled.get(self.stats.requests)
        if self.stats.requests <= self.settings.fault_free_requests:
            fault = None
        elif fault is None and self.settings.fault_rate:
            fault = self._pick_fault(schema) if self._rng.random() < self.settings.fault_rate else None
        if fault:
            self.stats.faults[fault] += 1
        slept = time.perf_counter()
        await asyncio.sleep(self.settings.latency)
        self.stats.late_seconds += max(0.0, time.perf_counter() - slept - self.settings.latency)
        if fault == "rate_limit":
            self._write(writer, "429 Too Many Requests", b'{"error": {"message": "slow down", "type": "rate_limit"}}',
                        {"retry-after": f"{self.settings.retry_after:g}"})
            return True
        if fault == "server_error":
            self._write(writer, "500 Internal Server Error", b'{"error": {"message": "boom"}}')
            return True
        if fault == "bad_request":
            self._write(writer, "400 Bad Request",
                        b'{"error": {"message": "Unrecognized request argument supplied: frobnicate"}}')
            return True
        if fault == "timeout":
            await asyncio.sleep(self.settings.hang_seconds)
            return False
        if fault == "invalid_json":
            self._write(writer, "200 OK", b'{"id": "x", "choices": [{"message": ')
            return True
        logprobs = None
        if fault == "empty":
            content = ""
        elif request.get("logprobs") and request.get("max_tokens") == 1 and self.settings.logprobs:
            top = max(0, min(int(request.get("top_logprobs") or 0), MAX_TOP_LOGPROBS))
            content, logprobs = _score_logprobs(self.stats.requests, top, self.settings.logprob_bytes)
        elif schema:
            content = _schema_reply(schema, self._rng, fault == "unknown_speaker")
        elif prompted:
            reply = _schema_reply(prompted, self._rng, fault == "unknown_speaker")
            content = f"Sure, here it is:\n```json\n{reply}\n```"
        else:
            first, second = self._rng.sample(WORDS, 2)
            verb, tail = self._rng.choice(VERBS), self._rng.choice(TAILS)
            content = f"{first.capitalize()} {verb} {second}s, {tail}."
        prompt_tokens = sum(_tokens(str(m.get("content", ""))) for m in request.get("messages", []))
        completion_tokens = _tokens(content) if content else 0
        if self.settings.token_rate > 0:
            await asyncio.sleep(completion_tokens / self.settings.token_rate)
        self.stats.ok += 1
        self.stats.prompt_tokens += prompt_tokens
        self.stats.completion_tokens += completion_tokens
        payload = {
            "id": f"sim-{self.stats.requests}", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", "sim"),
            "choices": [{"index": 0, "finish_reason": "length" if logprobs else "stop", "logprobs": logprobs,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }
        self._write(writer, "200 OK", json.dumps(payload).encode())
        return True


def parse_args(argv: list[str] | None = None) -> tuple[SimSettings, int]:
    p = argparse.ArgumentParser(description="simulated OpenAI-compatible endpoint (127.0.0.1 only)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--token-rate", type=float, default=0.0)
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--faults", default=",".join(FAULTS))
    p.add_argument("--retry-after", type=float, default=0.05)
    p.add_argument("--hang-seconds", type=float, default=5.0)
    p.add_argument("--max-requests", type=int, default=100_000)
    p.add_argument("--max-seconds", type=float, default=600.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-logprob-bytes", action="store_true",
                   help="logprob candidates without bytes (as llama-cpp-python's server sends them)")
    p.add_argument("--accept-formats", default=",".join(RESPONSE_FORMATS),
                   help="response_format types answered; others get HTTP 500 (e.g. text,json_object)")
    p.add_argument("--ignore-schema", action="store_true", help="accept response-format schemas, do not enforce them")
    p.add_argument("--no-logprobs", action="store_true", help="never return logprobs")
    p.add_argument("--fault-free-requests", type=int, default=0,
                   help="the first N requests get no fault (a run's preflight probes)")
    p.add_argument("--fail-requests", default="",
                   help="scheduled faults: N:KIND,... (the N-th request gets KIND; e.g. 1:rate_limit,2:server_error)")
    a = p.parse_args(argv)
    faults = tuple(f for f in a.faults.split(",") if f)
    known = (*FAULTS, *REQUEST_FAULTS)
    unknown = set(faults) - set(known)
    if unknown:
        p.error(f"unknown faults {sorted(unknown)}; allowed: {', '.join(known)}")
    scheduled = {}
    for item in filter(None, a.fail_requests.split(",")):
        number, _, kind = item.partition(":")
        if kind not in known or not number.isdigit():
            p.error(f"--fail-requests: {item!r} is not N:KIND with KIND one of {', '.join(known)}")
        scheduled[int(number)] = kind
    formats = tuple(f for f in a.accept_formats.split(",") if f)
    return SimSettings(a.latency, a.token_rate, a.fault_rate, faults, a.retry_after, a.hang_seconds,
                       a.max_requests, a.max_seconds, a.seed, scheduled, not a.no_logprob_bytes, formats,
                       a.ignore_schema, not a.no_logprobs, a.fault_free_requests), a.port


async def _main(settings: SimSettings, port: int) -> None:
    sim = SimEndpoint(settings)
    bound = await sim.start(port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(sim.stop()))
    print(f"PORT {bound}", flush=True)
    await sim.wait_closed()


@contextlib.contextmanager
def running_endpoint(*args: str) -> Iterator[str]:
    """Start the endpoint in its own process (its CPU is not the orchestrator's); yield base_url."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "tests.sim_endpoint", *args], cwd=root,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"simulated endpoint did not start: {line!r}")
        yield f"http://{HOST}:{int(line.split()[1])}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def models_yaml(base_url: str, *, timeout: float = 2.0, extra_backend: str = "", extra: str = "") -> str:
    """A models configuration with every role on the simulated endpoint."""
    return (
        "backends:\n  sim:\n    type: openai\n    model: sim\n"
        f"    base_url: {base_url}\n    api_key_env: SIM_API_KEY\n    timeout_seconds: {timeout}\n"
        "    model_info: {family: unknown, json_output: true, structured_output: true, function_calling: false,"
        " vision: false}\n"
        f"{extra_backend}"
        "default: {backend: sim, temperature: 0.8, max_tokens: 128}\n"
        f"{extra}"
    )


if __name__ == "__main__":
    settings, port = parse_args()
    asyncio.run(_main(settings, port))
