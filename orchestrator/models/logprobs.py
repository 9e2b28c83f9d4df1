"""Logprob access for one role (the G-Eval judge's one-token score call), built by ModelHub from
the same clients, retries, throttling and cache as every other role's calls.

Two calls: `text` (free text under the role's settings) and `first_token` (one greedy token and
the candidates for it, with their logprobs). How the candidates are read depends on the engine:
- remote backends: the hub's client for the backend (ResilientClient: retries with backoff,
  Retry-After, the backend's one AdaptiveLimiter), asked for `logprobs` / `top_logprobs`;
  autogen keeps a candidate's text only as bytes, decoded here.
- the embedded backend: text on the hub's loaded model; first tokens under the same lock
  (LocalLlamaClient.locked_first_token: on the extending engine, from the state the explanation
  call left; on the stock path, on a logits_all sibling), which also reads the watched tokens'
  logprobs from the full distribution, for when none of them is among the top candidates.
When the models file caches the role, both calls are cached in the backend's namespace store:
texts by the hub's ChatCompletionCache, first tokens here, keyed the same way (messages + args).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from autogen_core import CacheStore
from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage
from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator.models.local import LocalLlamaClient

TOP_LOGPROBS = 5


class FirstToken(BaseModel):
    """What one first-token call returned: the top candidates (text, logprob), the token
    actually produced, and (embedded backend only) the watched strings' logprobs in the full
    distribution. A pydantic model so that every cache store (disk, Redis JSON) keeps it whole."""

    model_config = ConfigDict(frozen=True)

    top: list[tuple[str, float]] = []
    produced: str = ""
    watched: dict[str, float] = {}


FirstTokenCall = Callable[[Sequence[LLMMessage], dict[str, Any], Sequence[str]], Awaitable[FirstToken]]


def call_key(messages: Sequence[LLMMessage], extra_create_args: Mapping[str, Any]) -> str:
    """autogen-ext ChatCompletionCache's key for a call without tools or output schema, for the
    calls that do not go through an autogen client (a test pins the equality)."""
    data = {
        "messages": [m.model_dump() for m in messages],
        "tools": [],
        "json_output": None,
        "extra_create_args": extra_create_args,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def first_token_of(result: CreateResult) -> FirstToken:
    """The first token's candidates from an autogen result (candidates carry bytes only)."""
    top: list[tuple[str, float]] = []
    if result.logprobs:
        for candidate in result.logprobs[0].top_logprobs or []:
            text = bytes(candidate.bytes).decode("utf-8", "replace") if candidate.bytes else ""
            top.append((text, float(candidate.logprob)))
    return FirstToken(top=top, produced=result.content if isinstance(result.content, str) else "")


def chat_first_token(client: ChatCompletionClient) -> FirstTokenCall:
    """Through an autogen client (the hub's ResilientClient for remote backends). An endpoint
    returns the top candidates only, so nothing is watched."""

    async def call(messages: Sequence[LLMMessage], args: dict[str, Any], watch: Sequence[str]) -> FirstToken:
        return first_token_of(await client.create(messages, extra_create_args=args))

    return call


def embedded_first_token(engine: LocalLlamaClient) -> FirstTokenCall:
    """On the hub's embedded engine, under its lock: with prefix reuse the score call extends the
    explanation call's saved state on the one engine; otherwise on its logits_all sibling."""

    async def call(messages: Sequence[LLMMessage], args: dict[str, Any], watch: Sequence[str]) -> FirstToken:
        sampling = {k: v for k, v in args.items() if k not in ("temperature", "max_tokens", "logprobs", "top_logprobs")}
        top, produced, watched = await asyncio.get_running_loop().run_in_executor(
            None, lambda: engine.locked_first_token(messages, watch=watch, top_n=int(args.get("top_logprobs", 5)),
                                                    args=sampling))
        return FirstToken(top=top, produced=produced, watched=watched)

    return call


def _stored(value: Any) -> FirstToken | None:
    """A cached first token as the store returns it: the object (disk), or its JSON (Redis)."""
    try:
        if isinstance(value, FirstToken):
            return value
        if isinstance(value, dict):
            return FirstToken.model_validate(value)
        if isinstance(value, (str, bytes)):
            return FirstToken.model_validate_json(value)
    except ValidationError:
        pass  # not ours or from an older shape: a miss
    return None


class LogprobClient:
    """One role's `text` and `first_token` calls. `attempt` numbers a caller's retries of the
    same prompt: it sets the call's seed, so a retry is a new call (and a new cache key) while
    the same attempt of the same prompt is reproducible and cacheable whatever the order."""

    def __init__(
        self,
        *,
        text_client: ChatCompletionClient,
        first_token_call: FirstTokenCall,
        sampling: Mapping[str, Any],
        seed_for: Callable[[int], int],
        store: CacheStore[Any] | None,
        description: str,
    ) -> None:
        self._text_client = text_client
        self._first_token_call = first_token_call
        self._sampling = dict(sampling)
        self._seed_for = seed_for
        self._store = store
        self.description = description
        self.calls = 0
        self.cached_calls = 0  # answered by the cache

    async def text(self, messages: Sequence[LLMMessage], *, attempt: int = 0) -> str:
        args = {**self._sampling, "seed": self._seed_for(attempt)}
        self.calls += 1
        result = await self._text_client.create(messages, extra_create_args=args)
        self.cached_calls += bool(result.cached)
        return result.content if isinstance(result.content, str) else ""

    async def first_token(self, messages: Sequence[LLMMessage], *, watch: Sequence[str] = (),
                          attempt: int = 0) -> FirstToken:
        # one greedy token: the candidates' logprobs are the answer, sampling settings are not
        args: dict[str, Any] = {"temperature": 0.0, "max_tokens": 1, "logprobs": True,
                                "top_logprobs": TOP_LOGPROBS, "seed": self._seed_for(attempt)}
        self.calls += 1
        if self._store is None:
            return await self._first_token_call(messages, args, watch)
        key = call_key(messages, {**args, "watch": list(watch)})
        hit = _stored(self._store.get(key))
        if hit is not None:
            self.cached_calls += 1
            return hit
        found = await self._first_token_call(messages, args, watch)
        self._store.set(key, found)
        return found
