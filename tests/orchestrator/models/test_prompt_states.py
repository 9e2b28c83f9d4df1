"""Saved-state bookkeeping and the read-once ledger, without a model (states are byte buffers)."""

from __future__ import annotations

import numpy as np

from orchestrator.models.engine_counts import EngineUsage, ReadOnceLedger, reused_prompt_tokens
from orchestrator.models.prompt_states import PromptStateCache, SavedState, common_prefix


def state(tokens: list[int], nbytes: int = 100) -> SavedState:
    return SavedState(tokens=np.asarray(tokens, dtype=np.int32), data=bytearray(nbytes))


def test_common_prefix() -> None:
    a = np.asarray([1, 2, 3, 4], dtype=np.int32)
    assert common_prefix(a, np.asarray([1, 2, 9], dtype=np.int32)) == 2
    assert common_prefix(a, a[:2]) == 2
    assert common_prefix(a, np.asarray([], dtype=np.int32)) == 0


def test_the_longest_shared_prefix_wins() -> None:
    cache = PromptStateCache(budget_bytes=10_000)
    cache.add(state([1, 2, 3]))
    cache.add(state([1, 5, 6, 7]))
    found, shared = cache.best(np.asarray([1, 2, 3, 8], dtype=np.int32))
    assert found is not None and list(found.tokens) == [1, 2, 3] and shared == 3
    found, shared = cache.best(np.asarray([9], dtype=np.int32))
    assert found is None and shared == 0


def test_a_state_extended_later_is_dropped() -> None:
    cache = PromptStateCache(budget_bytes=10_000)
    cache.add(state([1, 2, 3]))
    cache.add(state([1, 2, 3, 4, 5]))  # the same agent's next call: it serves every prompt the first did
    cache.add(state([1, 2, 7]))  # a different branch stays
    assert len(cache) == 2 and cache.nbytes == (100 + 5 * 4) + (100 + 3 * 4)  # bytes + tokens


def test_least_recently_used_states_go_first_beyond_the_budget() -> None:
    cache = PromptStateCache(budget_bytes=2 * (1000 + 12))
    for first in (1, 2, 3):
        cache.add(state([first, 0, 0], nbytes=1000))
        cache.best(np.asarray([1, 0, 0], dtype=np.int32))  # agent 1 keeps calling
    assert len(cache) == 2 and cache.evicted == 1
    assert cache.best(np.asarray([1, 0, 0], dtype=np.int32))[1] == 3
    assert cache.best(np.asarray([2, 0, 0], dtype=np.int32))[1] == 0
    assert cache.nbytes <= cache.budget_bytes and cache.peak_bytes >= cache.nbytes


def test_the_ledger_counts_only_tokens_never_read_before() -> None:
    ledger = ReadOnceLedger()
    prompt = np.asarray([1, 2, 3, 4], dtype=np.int32)
    assert ledger.first_read(prompt) == 4
    ledger.record(np.asarray([1, 2, 3, 4, 5, 6], dtype=np.int32))  # prompt and completion
    assert ledger.first_read(np.asarray([1, 2, 3, 4, 5, 6, 7, 8], dtype=np.int32)) == 2
    assert ledger.first_read(np.asarray([1, 2, 9], dtype=np.int32)) == 1


def test_reused_tokens_travel_with_the_usage() -> None:
    from autogen_core.models import RequestUsage

    assert reused_prompt_tokens(EngineUsage(prompt_tokens=10, completion_tokens=2, reused_prompt_tokens=7)) == 7
    assert reused_prompt_tokens(RequestUsage(prompt_tokens=10, completion_tokens=2)) == 0
