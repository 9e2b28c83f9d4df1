"""The stock embedded path (`prefix_reuse: false`): llama-cpp-python's own chat completion, as
before the extending engine, kept for A/B comparison and for models without a chat template.

Its calls are counted the same way as the extending engine's (prompt tokens evaluated vs reused,
tokens no earlier call had read): `Llama` keeps the tokens it evaluated in `input_ids`, so the
prefix it reused is the common prefix of its tokens before and after the call, and llama.cpp's
performance counters give the prompt-evaluation time.

Logprobs need `logits_all=True`, which this path gets from a second `Llama` on the same
memory-mapped GGUF, made on first use. Text never runs on it: with logits_all every generated
token copies the n_ctx x vocab score buffer (48 explanation tokens took 35-67 s instead of <1 s).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import llama_cpp
import numpy as np

from orchestrator.models.engine_counts import CallCounts, ReadOnceLedger
from orchestrator.models.prompt_states import common_prefix

# logits_all keeps n_ctx x vocab floats (49k vocab: ~0.2 GB per 1k context); the logprob calls'
# prompts (the judge's: experience + conversation + explanation) fit in 4k.
LOGITS_ALL_MAX_CTX = 4096


def _evaluated_tokens(llm: llama_cpp.Llama) -> np.ndarray:
    return np.asarray(llm.input_ids[: llm.n_tokens], dtype=np.int32).copy()


# Settings only the extending engine's sampler has: llama-cpp-python's chat completion exposes
# neither llama.cpp's DRY sampler nor a mask on the first token, so this path decodes without them.
ENGINE_ONLY_SETTINGS = ("dry_multiplier", "avoid_openings")


def _chat(llm: llama_cpp.Llama, messages: list[dict[str, str]], args: dict[str, Any]) -> Any:
    stock_args = {k: v for k, v in args.items() if k not in ENGINE_ONLY_SETTINGS}
    return llm.create_chat_completion(messages=messages, stream=False, **stock_args)  # type: ignore[arg-type]


def prompt_eval_ms(llm: llama_cpp.Llama) -> float:
    """llama.cpp's running total of prompt-evaluation time; it books a decode's time only at the
    next synchronisation, hence the explicit one."""
    llama_cpp.llama_synchronize(llm.ctx)
    return float(llama_cpp.llama_perf_context(llm.ctx).t_p_eval_ms)


class StockPath:
    def __init__(self, llm: llama_cpp.Llama, llama_kwargs: dict[str, Any], ledger: ReadOnceLedger) -> None:
        self.llm = llm
        self._llama_kwargs = llama_kwargs
        self._ledger = ledger
        self.logits_llm: llama_cpp.Llama | None = None
        self._token_ids: dict[str, list[int]] = {}

    def _counted(self, llm: llama_cpp.Llama, call: Any, *, grammar: bool) -> tuple[Any, CallCounts]:
        before = _evaluated_tokens(llm)
        eval_ms = prompt_eval_ms(llm)
        started = time.perf_counter()
        response = call()
        seconds = time.perf_counter() - started
        prompt_tokens = int(response["usage"]["prompt_tokens"])
        completion_tokens = int(response["usage"]["completion_tokens"])
        after = _evaluated_tokens(llm)
        prompt = after[:prompt_tokens]
        # the stock generate() re-evaluates the last prompt token when the whole prompt matched
        reused = min(common_prefix(before, prompt), prompt_tokens - 1)
        first_read = self._ledger.first_read(prompt)
        self._ledger.record(after)
        prompt_seconds = (prompt_eval_ms(llm) - eval_ms) / 1000
        return response, CallCounts(
            prompt_tokens=prompt_tokens, evaluated=prompt_tokens - max(reused, 0), first_read=first_read,
            completion_tokens=completion_tokens, grammar=grammar, prompt_seconds=prompt_seconds,
            decode_seconds=max(seconds - prompt_seconds, 0.0))

    def complete(self, messages: list[dict[str, str]], args: dict[str, Any]) -> tuple[dict[str, Any], CallCounts]:
        grammar = args.get("grammar") is not None or args.get("response_format") is not None
        return self._counted(self.llm, lambda: _chat(self.llm, messages, args), grammar=grammar)

    def _logits_engine(self) -> llama_cpp.Llama:
        if self.logits_llm is None:
            n_ctx = min(int(self._llama_kwargs["n_ctx"]), LOGITS_ALL_MAX_CTX)
            threads = llama_cpp.llama_n_threads(self.llm.ctx)  # as many as the main engine has now
            self.logits_llm = llama_cpp.Llama(**{**self._llama_kwargs, "n_ctx": n_ctx, "n_threads": threads,
                                                 "n_threads_batch": threads}, logits_all=True)
        return self.logits_llm

    def first_token(self, messages: list[dict[str, str]], watch: Sequence[str],
                    args: dict[str, Any]) -> tuple[list[tuple[str, float]], str, dict[str, float], CallCounts]:
        """One greedy token with its top candidates' logprobs, on the logits_all sibling; and, for
        each watched string that is a single token, its logprob in the full distribution of that
        first token (found even when it is not among the top candidates)."""
        llm = self._logits_engine()
        response, counts = self._counted(llm, lambda: _chat(llm, messages, args), grammar=False)
        choice = response["choices"][0]
        content = (choice.get("logprobs") or {}).get("content") or []
        candidates = (content[0].get("top_logprobs") or []) if content else []
        top = [(str(c["token"]), float(c["logprob"])) for c in candidates]
        return top, str(choice["message"].get("content") or ""), self._watched(llm, watch), counts

    def _watched(self, llm: llama_cpp.Llama, watch: Sequence[str]) -> dict[str, float]:
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

    def close(self) -> None:
        if self.logits_llm is not None:
            self.logits_llm.close()
            self.logits_llm = None
