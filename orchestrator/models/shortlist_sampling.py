"""Token sampling for the extending engine, with grammars checked on a shortlist first.

llama-cpp-python puts the grammar sampler before top-k, so under a grammar every generated token
checks all 49,152 vocabulary entries against the grammar stacks: measured, the JSON experience
schema decoded at ~18 tok/s and the one-line persona grammar at about half the free speed.
Here the grammar sees the top-k shortlist first (after the repetition penalties, as before); only
when none of the shortlisted tokens is allowed does it check the whole vocabulary, then take the
top-k of what it allows. For greedy decoding (the judge, temperature 0) the result is exactly
the grammar-first result; when sampling, the candidates differ only if the grammar rejects some
of the k best tokens, and then top-p/min-p keep only the likely ones anyway.

The samplers are llama.cpp's own (same order and parameters as `Llama._init_sampler`), applied
one by one to a candidate array this module fills from the logits, so free decoding samples
exactly as llama-cpp-python does.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np

# the shortlist when the caller disables top-k (k <= 0): wide enough to hold an allowed token
# almost always, small enough that checking it costs nothing
DEFAULT_SHORTLIST = 40
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)


@dataclass(frozen=True)
class Sampling:
    """A call's sampling settings; defaults are `Llama.create_chat_completion`'s."""

    temperature: float = 0.2
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    penalty_last_n: int = 64
    # DRY ("don't repeat yourself", llama.cpp's sampler): penalises a token that would extend a
    # span already in the context, the prompt included; 0 turns it off. Spans never cross a
    # sequence breaker, so JSON's quotes and colons keep the structure out of it and only text
    # inside strings counts.
    dry_multiplier: float = 0.0
    dry_base: float = 1.75
    dry_allowed_length: int = 2
    # words the text must not open with (a persona's own name: "Bao, I'm glad..." said by Bao)
    avoid_openings: tuple[str, ...] = ()
    seed: int = 0


DRY_SEQUENCE_BREAKERS = ("\n", ":", '"', "*")
BANNED_OPENING_PENALTY = 1e4


class CandidateArray:
    """One reusable llama_token_data array over the whole vocabulary (filled per step)."""

    def __init__(self, n_vocab: int) -> None:
        self.n_vocab = n_vocab
        self._storage = (llama_cpp.llama_token_data * n_vocab)()
        self._view = np.frombuffer(memoryview(self._storage), dtype=_TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self.array = llama_cpp.llama_token_data_array(
            data=self._pointer(), size=n_vocab, selected=-1, sorted=False)

    def _pointer(self) -> Any:
        return ctypes.cast(self._storage, llama_cpp.llama_token_data_p)

    def fill(self, logits: np.ndarray) -> llama_cpp.llama_token_data_array:
        self._view["id"] = self._ids
        self._view["logit"] = logits
        self._view["p"] = 0.0
        self.array.data = self._pointer()  # a sampler may have pointed it elsewhere
        self.array.size = self.n_vocab
        self.array.selected = -1
        self.array.sorted = False
        return self.array

    def any_allowed(self) -> bool:
        """Whether a token of the current candidates survived the grammar (logit above -inf)."""
        size = int(self.array.size)
        data = np.ctypeslib.as_array(ctypes.cast(self.array.data, ctypes.POINTER(ctypes.c_float)),
                                     shape=(size * 3,))
        return bool(np.isfinite(data[1::3]).any())

    def selected_token(self) -> int:
        return int(self.array.data[int(self.array.selected)].id)


class TokenSampler:
    """The sampler of one generation: owns its llama.cpp samplers, freed by close()."""

    def __init__(self, *, vocab: llama_cpp.llama_vocab_p, candidates: CandidateArray, sampling: Sampling,
                 grammar: str | None, shortlist: bool = True, context: Sequence[int] = (),
                 dry_window: int = 8192, banned_first: np.ndarray | None = None) -> None:
        self._candidates = candidates
        self._shortlist = shortlist
        self.fallbacks = 0  # steps where no shortlisted token was allowed
        self.steps = 0
        s = sampling
        self._owned: list[llama_cpp.llama_sampler_p] = []
        self._penalties = self._own(llama_cpp.llama_sampler_init_penalties(
            candidates.n_vocab, s.penalty_last_n, s.repeat_penalty, s.frequency_penalty, s.presence_penalty))
        self._banned_first = banned_first if banned_first is not None and banned_first.size else None
        self._dry = None
        if s.dry_multiplier > 0:
            breakers = (ctypes.c_char_p * len(DRY_SEQUENCE_BREAKERS))(*(b.encode() for b in DRY_SEQUENCE_BREAKERS))
            self._dry = self._own(llama_cpp.llama_sampler_init_dry(
                vocab, s.dry_multiplier, s.dry_base, s.dry_allowed_length, dry_window, breakers, len(breakers)))
            for token in context:  # the prompt is context: copying from it is penalised too
                llama_cpp.llama_sampler_accept(self._dry, token)
        self._grammar = None
        if grammar is not None:
            self._grammar = self._own(llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root"))
            if not self._grammar:
                self.close()
                raise ValueError(f"llama.cpp cannot parse this GBNF grammar: {grammar!r}")
        self._shortlist_k = self._own(llama_cpp.llama_sampler_init_top_k(s.top_k if s.top_k > 0 else DEFAULT_SHORTLIST))
        if s.temperature <= 0:
            self._tail = [self._own(llama_cpp.llama_sampler_init_greedy())]
        else:
            self._tail = [self._own(llama_cpp.llama_sampler_init_top_k(s.top_k)),
                          self._own(llama_cpp.llama_sampler_init_typical(s.typical_p, 1)),
                          self._own(llama_cpp.llama_sampler_init_top_p(s.top_p, 1)),
                          self._own(llama_cpp.llama_sampler_init_min_p(s.min_p, 1)),
                          self._own(llama_cpp.llama_sampler_init_temp(s.temperature)),
                          self._own(llama_cpp.llama_sampler_init_dist(s.seed & 0xFFFFFFFF))]

    def _own(self, sampler: llama_cpp.llama_sampler_p) -> llama_cpp.llama_sampler_p:
        self._owned.append(sampler)
        return sampler

    def _apply(self, sampler: llama_cpp.llama_sampler_p) -> None:
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(self._candidates.array))

    def _penalise(self, logits: np.ndarray) -> None:
        if self._banned_first is not None and self.steps <= 1:
            # finite, so a grammar that allows nothing else can still take it
            logits = logits.copy()
            logits[self._banned_first] -= BANNED_OPENING_PENALTY
        self._candidates.fill(logits)
        self._apply(self._penalties)
        if self._dry is not None:
            self._apply(self._dry)

    def penalised(self, logits: np.ndarray) -> np.ndarray:
        """The logits after the repetition penalties and DRY, by token id (for inspection)."""
        self._penalise(logits)
        size = int(self._candidates.array.size)
        data = np.ctypeslib.as_array(self._candidates.array.data, shape=(size,))
        out = np.empty(self._candidates.n_vocab, dtype=np.float32)
        out[data["id"]] = data["logit"]
        return out

    def sample(self, logits: np.ndarray) -> int:
        self.steps += 1
        self._penalise(logits)
        if self._grammar is not None:
            if self._shortlist:
                self._apply(self._shortlist_k)
                self._apply(self._grammar)
                if not self._candidates.any_allowed():
                    self.fallbacks += 1
                    self._penalise(logits)
                    self._apply(self._grammar)
            else:
                self._apply(self._grammar)
            # the grammar sets rejected logits to -inf without clearing `sorted`: top-p and min-p
            # would then trust a stale order and could keep a rejected token
            self._candidates.array.sorted = False
        for sampler in self._tail:
            self._apply(sampler)
        return self._candidates.selected_token()

    def accept(self, token: int) -> None:
        """Advance the penalties' history and the grammar's state past the chosen token."""
        llama_cpp.llama_sampler_accept(self._penalties, token)
        if self._dry is not None:
            llama_cpp.llama_sampler_accept(self._dry, token)
        if self._grammar is not None:
            llama_cpp.llama_sampler_accept(self._grammar, token)

    def close(self) -> None:
        for sampler in self._owned:
            if sampler:
                llama_cpp.llama_sampler_free(sampler)
        self._owned.clear()
