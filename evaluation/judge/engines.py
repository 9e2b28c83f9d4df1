"""Engines the G-Eval judge can call. Each gives a free-text `explain` and a one-token
`score_tokens` call that returns first-token logprobs (autogen's clients drop token strings,
so the real engines are called directly).

- LocalJudgeEngine: its own llama.cpp `Llama` on the bundled GGUF with logits_all=True (needed
  for logprobs) for the score call, a plain one for explanations; every call under one lock
  (two concurrent calls on one Llama segfault).
- OpenAIJudgeEngine: the openai SDK (`logprobs=True, top_logprobs=5`), OpenAI-compatible or Azure.
- ChatClientJudgeEngine: any autogen ChatCompletionClient (replay clients in tests); reads
  `CreateResult.logprobs` and decodes the candidates' bytes.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    LLMMessage,
    SystemMessage,
    UserMessage,
)

from evaluation.judge.scoring import SCORE_TOKENS, ScoreTokens
from orchestrator.config import AzureOpenAIBackend, LocalBackend, ModelsConfig, OpenAIBackend
from agents.errors import EndpointError
from orchestrator.models.local import resolve_model_path

TOP_LOGPROBS = 5
# logits_all keeps n_ctx x vocab floats (49k vocab: ~0.2 GB per 1k context); the judge's
# prompts (experience + conversation + explanation) fit in 4k.
LOCAL_JUDGE_MAX_CTX = 4096

Messages = list[dict[str, str]]


class JudgeEngine(Protocol):
    description: str

    async def explain(self, messages: Messages) -> str: ...

    async def score_tokens(self, messages: Messages) -> ScoreTokens: ...

    async def close(self) -> None: ...


class LocalJudgeEngine:
    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = LOCAL_JUDGE_MAX_CTX,
        n_threads: int | None = None,
        seed: int = 0,
        temperature: float = 0.0,
        max_tokens: int = 160,
    ) -> None:
        from llama_cpp import Llama

        threads = n_threads or os.cpu_count() or 1
        common: dict[str, Any] = {
            "model_path": str(model_path),
            "n_ctx": n_ctx,
            "seed": seed,
            "verbose": False,
            "n_threads": threads,
            "n_threads_batch": threads,
        }
        # Two instances on one mmapped GGUF: with logits_all every generated token costs a copy
        # of the n_ctx x vocab score buffer (48 explanation tokens took 35-67 s instead of <1 s),
        # so free-text explanations run on a plain instance and only the one-token score call
        # uses the logits_all instance.
        self.explainer = Llama(**common)
        self.llm = Llama(logits_all=True, **common)
        self.description = f"local:{model_path.name} (llama.cpp, logits_all)"
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._digit_ids = {
            k: self.llm.tokenize(str(k).encode(), add_bos=False, special=False) for k in range(1, 6)
        }
        self.busy_seconds = 0.0
        self.calls = 0

    def _locked(self, fn: Any) -> Any:
        with self._lock:
            started = time.perf_counter()
            try:
                return fn()
            finally:
                self.busy_seconds += time.perf_counter() - started
                self.calls += 1

    async def _run(self, fn: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self._locked(fn))

    async def explain(self, messages: Messages) -> str:
        response = await self._run(
            lambda: self.explainer.create_chat_completion(
                messages=messages,  # type: ignore[arg-type]
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                stream=False,
            )
        )
        return str(response["choices"][0]["message"].get("content") or "")

    def _score_now(self, messages: Messages) -> ScoreTokens:
        import numpy as np

        response: Any = self.llm.create_chat_completion(
            messages=messages,  # type: ignore[arg-type]
            max_tokens=1,
            temperature=0.0,
            logprobs=True,
            top_logprobs=TOP_LOGPROBS,
            stream=False,
        )
        choice = response["choices"][0]
        content = (choice.get("logprobs") or {}).get("content") or []
        top = (
            [(str(c["token"]), float(c["logprob"])) for c in (content[0].get("top_logprobs") or [])]
            if content
            else []
        )
        # The logits that produced the first token sit at the last prompt position (the sampled
        # token itself is never evaluated when max_tokens=1): the digits' full log-softmax.
        digits: dict[int, float] = {}
        if self.llm.n_tokens > 0:
            row = np.asarray(self.llm._scores[self.llm.n_tokens - 1], dtype=np.float64)
            peak = row.max()
            log_z = peak + math.log(float(np.exp(row - peak).sum()))
            digits = {
                k: float(row[ids[0]] - log_z) for k, ids in self._digit_ids.items() if len(ids) == 1
            }
        return ScoreTokens(
            top=top, sampled=str(choice["message"].get("content") or ""), digit_logprobs=digits
        )

    async def score_tokens(self, messages: Messages) -> ScoreTokens:
        return await self._run(lambda: self._score_now(messages))

    async def close(self) -> None:
        self.explainer.close()
        self.llm.close()


class OpenAIJudgeEngine:
    def __init__(
        self,
        client: Any,
        model: str,
        *,
        description: str,
        temperature: float = 0.0,
        max_tokens: int = 200,
    ) -> None:
        self.client = client
        self.model = model
        self.description = description
        self.temperature = temperature
        self.max_tokens = max_tokens

    async def explain(self, messages: Messages) -> str:
        response = await self.client.chat.completions.create(
            model=self.model,
            messages=messages,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
        )
        return str(response.choices[0].message.content or "")

    async def score_tokens(self, messages: Messages) -> ScoreTokens:
        response = await self.client.chat.completions.create(
            model=self.model,
            messages=messages,
            temperature=0.0,
            max_tokens=1,
            logprobs=True,
            top_logprobs=TOP_LOGPROBS,
        )
        choice = response.choices[0]
        content = choice.logprobs.content if choice.logprobs and choice.logprobs.content else []
        top = [(t.token, float(t.logprob)) for t in content[0].top_logprobs] if content else []
        return ScoreTokens(top=top, sampled=str(choice.message.content or ""))

    async def close(self) -> None:
        await self.client.close()


def _to_autogen(messages: Messages) -> list[LLMMessage]:
    out: list[LLMMessage] = []
    for m in messages:
        if m["role"] == "system":
            out.append(SystemMessage(content=m["content"]))
        elif m["role"] == "assistant":
            out.append(AssistantMessage(content=m["content"], source="judge"))
        else:
            out.append(UserMessage(content=m["content"], source="user"))
    return out


class ChatClientJudgeEngine:
    """Any autogen ChatCompletionClient; logprob candidates come back as bytes, decoded here."""

    def __init__(self, client: ChatCompletionClient, description: str = "autogen client") -> None:
        self.client = client
        self.description = description

    async def explain(self, messages: Messages) -> str:
        result = await self.client.create(_to_autogen(messages))
        return result.content if isinstance(result.content, str) else ""

    async def score_tokens(self, messages: Messages) -> ScoreTokens:
        result = await self.client.create(
            _to_autogen(messages),
            extra_create_args={"logprobs": True, "top_logprobs": TOP_LOGPROBS, "max_tokens": 1},
        )
        top: list[tuple[str, float]] = []
        if result.logprobs:
            first = result.logprobs[0]
            for cand in first.top_logprobs or []:
                token = bytes(cand.bytes).decode("utf-8", "replace") if cand.bytes else ""
                top.append((token, float(cand.logprob)))
            if not top and first.token.strip() in SCORE_TOKENS:
                top.append((first.token, float(first.logprob)))
        sampled = result.content if isinstance(result.content, str) else ""
        return ScoreTokens(top=top, sampled=sampled)

    async def close(self) -> None:
        await self.client.close()


def build_judge_engine(models: ModelsConfig, *, seed: int = 0) -> JudgeEngine:
    """The engine for the models file's `judge` role."""
    settings = models.settings_for("judge")
    backend = models.backends[settings.backend]
    field = f"backends.{settings.backend}"
    if isinstance(backend, LocalBackend):
        path = resolve_model_path(backend.model_path, f"{field}.model_path")
        return LocalJudgeEngine(
            path,
            n_ctx=min(backend.n_ctx, LOCAL_JUDGE_MAX_CTX),
            n_threads=backend.n_threads,
            seed=seed,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
        )
    api_key = os.environ.get(backend.api_key_env)
    if not api_key:
        raise EndpointError(
            f"{field}.api_key_env: environment variable {backend.api_key_env} is not "
            "set (judge role)"
        )
    import openai

    if isinstance(backend, OpenAIBackend):
        client: Any = openai.AsyncOpenAI(
            api_key=api_key, base_url=backend.base_url, timeout=backend.timeout_seconds
        )
        where = backend.base_url or "api.openai.com"
    else:
        assert isinstance(backend, AzureOpenAIBackend)
        client = openai.AsyncAzureOpenAI(
            api_key=api_key,
            azure_endpoint=backend.azure_endpoint,
            azure_deployment=backend.azure_deployment,
            api_version=backend.api_version,
            timeout=backend.timeout_seconds,
        )
        where = backend.azure_endpoint
    return OpenAIJudgeEngine(
        client,
        backend.model,
        description=f"{backend.type}:{backend.model} ({where})",
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
    )
