"""The embedded model's calls, each evaluating only the tokens its context does not hold yet.

`Llama.create_chat_completion` reuses only the longest common prefix with the engine's previous
call. One engine serves every persona, the selector, the experience generator and the judge in
turn, so nearly every call used to re-read its whole prompt (a prompt token costs nearly what a
generated one does on this model). This engine keeps the live context when the next call
extends it, saves it (prompt_states.PromptStateCache) before another agent's call replaces it,
and restores the saved state whose tokens share the longest prefix with a new prompt; only the
tokens after that prefix are evaluated. Decoding uses shortlist_sampling (grammar on a top-k
shortlist first).

Chat messages are rendered with the GGUF's own chat template and tokenized exactly as
llama-cpp-python's chat handler does, so prompts are the stock path's prompts token for token.
Not thread-safe: the caller holds the engine lock.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import llama_cpp
import numpy as np
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from orchestrator.models.engine_counts import CallCounts, ReadOnceLedger
from orchestrator.models.prompt_states import PromptStateCache, common_prefix, restore_sequence, save_sequence
from orchestrator.models.shortlist_sampling import CandidateArray, Sampling, TokenSampler


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: list[int]
    finish_reason: Literal["stop", "length", "cancelled"]
    counts: CallCounts


def chat_formatter(llm: llama_cpp.Llama) -> Jinja2ChatFormatter:
    """The formatter `Llama.__init__` builds from the GGUF's chat template."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ValueError("the model file has no chat template (tokenizer.chat_template)")
    model = llm._model
    eos, bos = model.token_eos(), model.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=model.token_get_text(eos) if eos != -1 else "",
        bos_token=model.token_get_text(bos) if bos != -1 else "",
        stop_token_ids=[eos],
    )


class ExtendingEngine:
    def __init__(self, llm: llama_cpp.Llama, *, state_budget_bytes: int, ledger: ReadOnceLedger | None = None,
                 shortlist: bool = True) -> None:
        self.llm = llm
        self.states = PromptStateCache(state_budget_bytes)
        self.shortlist = shortlist
        self._formatter = chat_formatter(llm)
        self._candidates = CandidateArray(llm.n_vocab())
        self._ledger = ledger or ReadOnceLedger()
        self._live_saved = True  # the live context is already in the state cache (or empty)
        self._vocab_texts: list[str] | None = None
        self._opening_ids: dict[tuple[str, ...], np.ndarray] = {}

    # -- prompts ---------------------------------------------------------------------------------

    def chat_prompt(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        """Prompt tokens and stop strings for chat messages, as the stock chat handler makes them."""
        formatted = self._formatter(messages=messages)  # type: ignore[arg-type]
        tokens = self.llm.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special,
                                   special=True)
        stop = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop] if formatted.stop else []
        return tokens, stop

    def opening_token_ids(self, words: tuple[str, ...]) -> np.ndarray:
        """Tokens a text opening with one of `words` would start with: the first token of the
        word as the tokenizer writes it (with and without a leading space: "B" for "Bao") and any
        token of 3 or more characters that is a prefix of it ("Bao"). Shorter prefixes stay
        allowed, since they start ordinary words too ("To" for "Topic", "A" for "Act")."""
        if words not in self._opening_ids:
            if self._vocab_texts is None:  # 49k detokenisations, once per engine
                self._vocab_texts = [self.token_text(i).strip() for i in range(self.llm.n_vocab())]
            banned = {tokens[0] for w in words for form in (w, " " + w)
                      if (tokens := self.llm.tokenize(form.encode("utf-8"), add_bos=False, special=False))}
            banned |= {i for i, text in enumerate(self._vocab_texts)
                       if len(text) >= 3 and any(w.startswith(text) for w in words)}
            self._opening_ids[words] = np.array(sorted(banned), dtype=np.int32)
        return self._opening_ids[words]

    # -- the context -----------------------------------------------------------------------------

    def _live_tokens(self) -> np.ndarray:
        return np.asarray(self.llm.input_ids[: self.llm.n_tokens], dtype=np.int32)

    def _save_live(self) -> None:
        if not self._live_saved and self.llm.n_tokens > 0:
            self.states.add(save_sequence(self.llm.ctx, self._live_tokens()))
        self._live_saved = True

    def _position(self, prompt: np.ndarray) -> tuple[int, bool]:
        """Make the context hold the longest available prefix of `prompt` (at most all but its last
        token, whose logits the call needs); returns that length and whether a state was restored."""
        live_shared = common_prefix(self._live_tokens(), prompt)
        state, saved_shared = self.states.best(prompt)
        restored = False
        if state is not None and saved_shared > live_shared:
            self._save_live()
            restore_sequence(self.llm.ctx, state)
            n = len(state.tokens)
            self.llm.input_ids[:n] = state.tokens
            self.llm.n_tokens = n
            shared, restored = saved_shared, True
        else:
            shared = live_shared
            # keep another agent's context before cutting it back, unless the call continues most
            # of it (the judge's next question, a rejected reply sampled again)
            if self.llm.n_tokens - shared > shared:
                self._save_live()
        shared = min(shared, len(prompt) - 1)
        self.llm.n_tokens = shared  # Llama.eval drops the KV cells past n_tokens
        return shared, restored

    def _evaluate_prompt(self, prompt_tokens: list[int]) -> tuple[int, int, bool, float, float]:
        if len(prompt_tokens) >= self.llm.n_ctx():
            raise ValueError(f"Requested tokens ({len(prompt_tokens)}) exceed context window of {self.llm.n_ctx()}")
        prompt = np.asarray(prompt_tokens, dtype=np.int32)
        first_read = self._ledger.first_read(prompt)
        started = time.perf_counter()
        shared, restored = self._position(prompt)
        state_seconds = time.perf_counter() - started
        started = time.perf_counter()
        self.llm.eval(prompt_tokens[shared:])
        llama_cpp.llama_synchronize(self.llm.ctx)  # so the time measured is the evaluation's
        self._live_saved = False
        return shared, first_read, restored, state_seconds, time.perf_counter() - started

    def _last_logits(self) -> np.ndarray:
        pointer = llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self._candidates.n_vocab,))

    # -- calls -----------------------------------------------------------------------------------

    def complete(self, prompt_tokens: list[int], *, sampling: Sampling, max_tokens: int | None,
                 grammar: str | None = None, stop: list[str] | tuple[str, ...] = (),
                 cancelled: Callable[[], bool] = lambda: False) -> Completion:
        """Sample a completion token by token. `cancelled` is asked before each token: once it
        says yes (the client is closing) the call ends there, so the context can be freed."""
        shared, first_read, restored, state_seconds, prompt_seconds = self._evaluate_prompt(prompt_tokens)
        room = self.llm.n_ctx() - len(prompt_tokens)
        limit = room if not max_tokens or max_tokens <= 0 else min(max_tokens, room)
        sampler = TokenSampler(vocab=self.llm._model.vocab, candidates=self._candidates, sampling=sampling,
                               grammar=grammar, shortlist=self.shortlist, context=prompt_tokens,
                               dry_window=self.llm.n_ctx(),
                               banned_first=self.opening_token_ids(sampling.avoid_openings)
                               if sampling.avoid_openings else None)
        stops = [s.encode("utf-8") for s in stop if s]
        completion: list[int] = []
        finish: Literal["stop", "length", "cancelled"] = "length"
        text = b""
        started = time.perf_counter()
        try:
            while len(completion) < limit:
                if cancelled():
                    finish = "cancelled"
                    break
                token = sampler.sample(self._last_logits())
                if llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token):
                    finish = "stop"
                    break
                sampler.accept(token)
                completion.append(token)
                text = self.llm.detokenize(completion, prev_tokens=prompt_tokens)
                hit = next((s for s in stops if s in text), None)
                if hit is not None:
                    text, finish = text[: text.index(hit)], "stop"
                    break
                if len(completion) < limit:  # like the stock loop, the last token is never evaluated
                    self.llm.eval([token])
        finally:
            sampler.close()
        decode_seconds = time.perf_counter() - started
        self._ledger.record(self._live_tokens())
        counts = CallCounts(
            prompt_tokens=len(prompt_tokens), evaluated=len(prompt_tokens) - shared, first_read=first_read,
            completion_tokens=len(completion), grammar=grammar is not None, grammar_fallbacks=sampler.fallbacks,
            restored=restored, prompt_seconds=prompt_seconds, decode_seconds=decode_seconds,
            state_seconds=state_seconds)
        return Completion(text=text.decode("utf-8", errors="ignore"), tokens=completion, finish_reason=finish,
                          counts=counts)

    def next_token_logprobs(self, prompt_tokens: list[int]) -> tuple[np.ndarray, CallCounts]:
        """Log-probabilities of every vocabulary entry as the prompt's next token (the G-Eval
        judge's score call): the last prompt position's logits, without logits_all."""
        shared, first_read, restored, state_seconds, prompt_seconds = self._evaluate_prompt(prompt_tokens)
        row = self._last_logits().astype(np.float64)
        peak = row.max()
        logprobs = row - (peak + np.log(np.exp(row - peak).sum()))
        self._ledger.record(self._live_tokens())
        counts = CallCounts(prompt_tokens=len(prompt_tokens), evaluated=len(prompt_tokens) - shared,
                            first_read=first_read, restored=restored, prompt_seconds=prompt_seconds,
                            state_seconds=state_seconds)
        return logprobs, counts

    def token_text(self, token: int) -> str:
        return self.llm.detokenize([token]).decode("utf-8", errors="ignore")

    def close(self) -> None:
        self.states.clear()


def sampling_from(args: dict[str, Any]) -> Sampling:
    """A call's Sampling from chat-completion keyword arguments (unknown ones are not sampling)."""
    seed = args.get("seed")
    defaults = Sampling()
    return Sampling(
        temperature=float(args.get("temperature", defaults.temperature)),
        top_k=int(args.get("top_k", defaults.top_k)),
        top_p=float(args.get("top_p", defaults.top_p)),
        min_p=float(args.get("min_p", defaults.min_p)),
        typical_p=float(args.get("typical_p", defaults.typical_p)),
        repeat_penalty=float(args.get("repeat_penalty", defaults.repeat_penalty)),
        frequency_penalty=float(args.get("frequency_penalty", defaults.frequency_penalty)),
        presence_penalty=float(args.get("presence_penalty", defaults.presence_penalty)),
        dry_multiplier=float(args.get("dry_multiplier", defaults.dry_multiplier)),
        avoid_openings=tuple(str(w) for w in args.get("avoid_openings", ()) if str(w).strip()),
        seed=int(seed) if seed is not None else random.randint(0, 2**32 - 1),
    )
