"""Saved KV states of the embedded model, keyed by the tokens they hold.

One loaded model serves every agent in turn, and `Llama` itself only reuses the longest common
prefix with its own previous call, so an agent whose turn comes round again used to re-read its
whole prompt. Here a call's context is saved (llama.cpp's per-sequence state: the KV cells only,
no logits) when another agent's call is about to replace it, and restored when that agent calls
again; the call then evaluates only the tokens after the longest saved prefix.

Memory: SmolLM2-135M keeps 23,040 bytes of f16 K and V per token (30 layers x 2 x 3 KV heads x
64 dims x 2 bytes), so a 1,000-token persona context is 23 MB and a full 8k context 189 MB. The
cache holds at most `budget_bytes` and drops the least recently used states first; a state whose
tokens are a prefix of another's is dropped at once (the longer one serves every prompt the
shorter one would), which leaves about one state per agent.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from dataclasses import dataclass

import llama_cpp
import numpy as np

SEQ = 0  # the one sequence llama-cpp-python's Llama evaluates


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common prefix of two token arrays."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differs = np.flatnonzero(a[:n] != b[:n])
    return int(differs[0]) if len(differs) else n


@dataclass
class SavedState:
    tokens: np.ndarray  # the tokens whose K and V the state holds, in order
    data: bytearray

    @property
    def nbytes(self) -> int:
        return len(self.data) + self.tokens.nbytes


def save_sequence(ctx: llama_cpp.llama_context_p, tokens: np.ndarray) -> SavedState:
    size = llama_cpp.llama_state_seq_get_size(ctx, SEQ)
    data = bytearray(size)
    written = llama_cpp.llama_state_seq_get_data(ctx, (ctypes.c_uint8 * size).from_buffer(data), size, SEQ)
    if written != size:
        raise RuntimeError(f"llama.cpp saved {written} of {size} state bytes")
    return SavedState(tokens=tokens.copy(), data=data)


def restore_sequence(ctx: llama_cpp.llama_context_p, state: SavedState) -> None:
    llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), SEQ, -1, -1)
    size = len(state.data)
    read = llama_cpp.llama_state_seq_set_data(ctx, (ctypes.c_uint8 * size).from_buffer(state.data), size, SEQ)
    if read != size:
        raise RuntimeError(f"llama.cpp restored {read} of {size} state bytes")


class PromptStateCache:
    """Saved states by token prefix, least recently used dropped beyond the byte budget."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._states: OrderedDict[int, SavedState] = OrderedDict()
        self._next_key = 0
        self.nbytes = 0
        self.peak_bytes = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._states)

    def best(self, tokens: np.ndarray) -> tuple[SavedState | None, int]:
        """The saved state sharing the longest prefix with `tokens`, and that length."""
        found: SavedState | None = None
        length = 0
        key_found = None
        for key, state in self._states.items():
            shared = common_prefix(state.tokens, tokens)
            if shared > length:
                found, length, key_found = state, shared, key
        if key_found is not None:
            self._states.move_to_end(key_found)
        return found, length

    def add(self, state: SavedState) -> None:
        """Keep `state`; states it extends are dropped, then the oldest beyond the budget."""
        for key, old in list(self._states.items()):
            if len(old.tokens) <= len(state.tokens) and common_prefix(old.tokens, state.tokens) == len(old.tokens):
                self._drop(key)
        if state.nbytes > self.budget_bytes:
            return
        self._states[self._next_key] = state
        self._next_key += 1
        self.nbytes += state.nbytes
        self.peak_bytes = max(self.peak_bytes, self.nbytes)
        while self.nbytes > self.budget_bytes:
            self._drop(next(iter(self._states)))
            self.evicted += 1

    def _drop(self, key: int) -> None:
        self.nbytes -= self._states.pop(key).nbytes

    def clear(self) -> None:
        self._states.clear()
        self.nbytes = 0
