"""Endpoint faults handled in one place: a ChatCompletionClient wrapper that ModelHub puts
around every remote backend client (built with the SDK's own retries off, so retries are ours
and visible).

- Retries 429, 408, 409, 5xx, timeouts, connection errors, unreadable bodies and empty replies,
  with exponential backoff and full jitter, honouring `Retry-After` / `retry-after-ms`.
- Never retries a request the endpoint rejected as invalid (any other 4xx, or a 5xx whose body is
  a request validation error, as llama-cpp-python's server answers an unsupported response
  format): the same request fails the same way every time. It raises `EndpointRejected` at once.
- A per-call timeout (asyncio) on top of the HTTP client's, so a hung call cannot stall a
  conversation forever.
- Adaptive throttling: an AIMD limit on the calls in flight to the backend, halved on a 429
  (at most once per cooldown) and grown back by one per limit successful calls.
A call that still fails raises `EndpointGaveUp`; the conversation is then recorded as failed.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sys
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from agents.errors import GenerationError
from orchestrator.config import RetryConfig
from orchestrator.models.http_pool import TransportFailure
from orchestrator.models.openai_compat import EndpointBodyError
from orchestrator.models.wrapper import WrappingClient

# A 5xx whose body says the request itself was invalid (FastAPI/pydantic servers such as
# llama-cpp-python's report their request validation errors as HTTP 500).
_VALIDATION_BODY = re.compile(r"validation errors?\b|Input should be|Field required|Extra inputs are not permitted")
# 4xx statuses that do not mean "this request is wrong": timeout, conflict, rate limit.
_TRANSIENT_4XX = (408, 409, 429)


class EndpointGaveUp(GenerationError):
    """Every attempt of one model call failed; the reason names the last failure."""


class EndpointRejected(GenerationError):
    """The endpoint rejected the request as invalid: retrying the same request cannot help.
    `detail` is the endpoint's answer on one line; `backend` the configured backend's name."""

    PREFIX = "request rejected, not retried: "

    def __init__(self, backend: str, detail: str) -> None:
        super().__init__(f"backends.{backend}: {self.PREFIX}{detail}")
        self.backend = backend
        self.detail = detail


def one_line(text: str, limit: int = 240) -> str:
    """An endpoint's (often multi-line) error as one bounded line, without the server-side Python
    traceback some servers append (llama-cpp-python's)."""
    flat = " ".join(re.split(r'\n\s*File "', str(text), maxsplit=1)[0].split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def is_request_rejection(exc: BaseException) -> bool:
    """Whether the endpoint refused the request itself (see _VALIDATION_BODY, _TRANSIENT_4XX)."""
    status = _status(exc)
    if status is None:
        return False
    if 400 <= status < 500:
        return status not in _TRANSIENT_4XX
    return status >= 500 and _VALIDATION_BODY.search(str(exc)) is not None


def rejection_of(exc: BaseException) -> str | None:
    """The EndpointRejected message behind a failure, if one caused it, else None. AutoGen's group
    chat re-raises an agent's error as a RuntimeError carrying only "<Type>: <message>", so the
    message is read back from that text too."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, EndpointRejected):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    marker = f"{EndpointRejected.__name__}: "
    if marker in text and EndpointRejected.PREFIX in text:
        return text.split(marker, 1)[1].splitlines()[0]
    return None


class EmptyReply(Exception):
    """The endpoint answered 200 with no content and no tool calls."""


class AdaptiveLimiter:
    """Calls in flight to one backend: at most `limit`, which halves on rate limiting and
    creeps back up on success (additive increase, multiplicative decrease).

    Waiters queue in FIFO order; a free slot is handed to the first waiter directly, so the
    uncontended path takes no lock and costs a comparison (this runs twice per model call)."""

    def __init__(self, ceiling: int, *, cooldown: float = 1.0) -> None:
        self.ceiling = ceiling
        self.limit = float(ceiling)
        self.in_flight = 0
        self.cooldown = cooldown
        self.cuts = 0
        self._last_cut = -1e9
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if not self._waiters and self.in_flight < max(1, int(self.limit)):
            self.in_flight += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # release() counted us in before waking us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.in_flight -= 1  # granted, but the caller is gone: give the slot on
                self._grant()
            raise

    async def release(self, *, rate_limited: bool = False) -> None:
        self.in_flight -= 1
        if rate_limited:
            now = time.monotonic()
            if now - self._last_cut >= self.cooldown:
                self.limit = max(1.0, self.limit / 2)
                self._last_cut = now
                self.cuts += 1
        elif self.limit < self.ceiling:
            self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self.in_flight < max(1, int(self.limit)):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def retry_after_seconds(exc: BaseException) -> float | None:
    """The server's requested wait, from `retry-after-ms` or `Retry-After` (seconds)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue  # an HTTP date: fall back to our own backoff
    return None


def classify(exc: BaseException) -> str | None:
    """A short retryable-failure kind, or None when retrying cannot help (e.g. 400, 401, a 500
    request validation error)."""
    if is_request_rejection(exc):
        return None
    if isinstance(exc, EmptyReply):
        return "empty_reply"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, TransportFailure):
        return "connection"
    if isinstance(exc, (json.JSONDecodeError, EndpointBodyError)):
        return "invalid_body"
    # the SDK clients' and httpx's own exception types; not imported when no client uses them
    openai = sys.modules.get("openai")
    if openai is not None:
        if isinstance(exc, openai.APITimeoutError):
            return "timeout"
        if isinstance(exc, openai.APIConnectionError):
            return "connection"
        if isinstance(exc, openai.APIResponseValidationError):
            return "invalid_body"
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        if isinstance(exc, httpx.TimeoutException):
            return "timeout"
        if isinstance(exc, httpx.TransportError):
            return "connection"
    status = _status(exc)
    if status == 429:
        return "rate_limit"
    if status is not None and (status >= 500 or status in _TRANSIENT_4XX):
        return "server_error"
    return None


class ResilientClient(WrappingClient):
    def __init__(self, inner: ChatCompletionClient, *, policy: RetryConfig, timeout: float,
                 limiter: AdaptiveLimiter, rng: random.Random | None = None, backend: str = "?") -> None:
        super().__init__(inner)
        self.backend = backend  # its name in the models file, for error messages
        self.policy = policy
        self.timeout = timeout
        self.limiter = limiter
        self.failures: Counter[str] = Counter()  # retryable failures seen, by kind
        self.gave_up = 0
        self._rng = rng or random.Random(0)  # jitter only; never affects model outputs

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, initial * 2^(attempt-1))]."""
        return self._rng.uniform(0, min(self.policy.max_delay, self.policy.initial_delay * 2 ** (attempt - 1)))

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        last = ""
        for attempt in range(1, self.policy.attempts + 1):
            await self.limiter.acquire()
            rate_limited = False
            try:
                # the HTTP client has the same timeout; this one also bounds connect and parse
                # (asyncio.timeout, unlike wait_for, needs no extra task per call)
                async with asyncio.timeout(self.timeout + 1.0):
                    result = await self._inner.create(
                        messages, tools=tools, tool_choice=tool_choice, json_output=json_output,
                        extra_create_args=extra_create_args, cancellation_token=cancellation_token)
                if result.content == "" and not tools:
                    raise EmptyReply("the endpoint returned an empty reply")
                return result
            except Exception as exc:
                kind = classify(exc)
                if kind is None:
                    if is_request_rejection(exc):
                        raise EndpointRejected(self.backend, one_line(str(exc))) from exc
                    raise
                rate_limited = kind == "rate_limit"
                self.failures[kind] += 1
                last = f"{kind}: {type(exc).__name__}: {exc}"[:500]
                wait = retry_after_seconds(exc)
                delay = self.backoff(attempt) if wait is None else min(wait, self.policy.max_delay)
            finally:
                await self.limiter.release(rate_limited=rate_limited)
            if attempt < self.policy.attempts:
                await asyncio.sleep(delay)
        self.gave_up += 1
        raise EndpointGaveUp(f"model call failed {self.policy.attempts} times; last: {last}")

    async def close(self) -> None:
        await self._inner.close()

    def stats(self) -> dict[str, Any]:
        return {"retried": dict(self.failures), "gave_up": self.gave_up, "throttle_cuts": self.limiter.cuts,
                "limit": round(self.limiter.limit, 1)}
