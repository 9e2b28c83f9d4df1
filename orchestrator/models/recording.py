"""The recording wrapper ModelHub gives every agent: the role's call settings in, a per-call seed,
and every call (prompt hash and size, newest prompt message, raw reply, usage, latency) logged in
the conversation's transcript."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage, RequestUsage
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from agents.prompting import prompt_hash
from orchestrator.config import Prices, Role, RoleSettings
from orchestrator.models.engine_counts import reused_prompt_tokens
from orchestrator.models.wrapper import WrappingClient
from orchestrator.store.transcript import Transcript

REPLY_PREVIEW_CHARS = 4000


def call_seed(seed: int, n: int) -> int:
    """The seed of the n-th call made under a base seed: reproducible whatever the interleaving."""
    return (seed * 1_000_003 + n) % (2**31 - 1)


def _message_text(message: LLMMessage) -> str:
    content = getattr(message, "content", "")
    return content if isinstance(content, str) else str(content)


class RecordingClient(WrappingClient):
    """Wraps a shared client for one agent of one conversation.

    Injects the role's temperature / max_tokens / top_p and a per-call seed derived from the
    conversation seed (reproducible whatever the interleaving), and records every call —
    prompt hash and size, the newest prompt message, raw reply, usage, latency — in the
    transcript. A fresh wrapper per agent keeps concurrent conversations' records apart.
    """

    def __init__(
        self,
        inner: ChatCompletionClient,
        *,
        role: Role,
        agent: str,
        settings: RoleSettings,
        transcript: Transcript,
        seed: int,
        send_seed: bool = True,
        local: bool = False,
        prices: Prices | None = None,
        call_args: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(inner)
        self._local = local
        self._prices = prices
        self.role = role
        self.agent = agent
        self._settings = settings
        self._transcript = transcript
        self._seed = seed
        self._send_seed = send_seed
        self._calls = 0
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._sampling = {**settings.sampling_args(local=local), **(call_args or {})}  # the same for every call

    def _call_args(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        args: dict[str, Any] = dict(self._sampling)
        if self._send_seed:
            args["seed"] = call_seed(self._seed, self._calls)
        args.update(extra)
        return args

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
        args = self._call_args(extra_create_args)
        self._calls += 1
        texts = [_message_text(m) for m in messages]
        base = {
            "agent": self.agent,
            "role": self.role,
            "n_messages": len(messages),
            "prompt_chars": sum(len(t) for t in texts),
            "prompt_hash": prompt_hash("\x1e".join(texts)),
            "last_message": texts[-1][-REPLY_PREVIEW_CHARS:] if texts else "",
            "seed": args.get("seed"),
            "schema": json_output.__name__ if isinstance(json_output, type) else json_output,
        }
        started = time.perf_counter()
        try:
            result = await self._inner.create(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=args,
                cancellation_token=cancellation_token,
            )
        except Exception as exc:
            self._transcript.add("model_error", **base, error=f"{type(exc).__name__}: {exc}"[:2000],
                                 seconds=round(time.perf_counter() - started, 4))
            raise
        seconds = time.perf_counter() - started
        usage = result.usage
        self._usage = RequestUsage(
            prompt_tokens=self._usage.prompt_tokens + usage.prompt_tokens,
            completion_tokens=self._usage.completion_tokens + usage.completion_tokens,
        )
        cost = 0.0
        if self._prices is not None:
            cost = (usage.prompt_tokens * self._prices.prompt + usage.completion_tokens * self._prices.completion) / 1e6
        reused = reused_prompt_tokens(usage)
        self._transcript.add_usage(self.role, usage.prompt_tokens, usage.completion_tokens, seconds,
                                   bool(result.cached), cost, reused=reused)
        reply = result.content if isinstance(result.content, str) else str(result.content)
        self._transcript.add(
            "model_call",
            **base,
            reply=reply[:REPLY_PREVIEW_CHARS],
            prompt_tokens=usage.prompt_tokens,
            # how much of the prompt the engine evaluated, and how much it had kept from before
            prompt_tokens_evaluated=usage.prompt_tokens - reused,
            prompt_tokens_reused=reused,
            completion_tokens=usage.completion_tokens,
            finish_reason=result.finish_reason,
            cached=bool(result.cached),
            seconds=round(seconds, 4),
        )
        return result

    def actual_usage(self) -> RequestUsage:
        return self._usage

    def total_usage(self) -> RequestUsage:
        return self._usage
