"""What the embedded engine really did per call: prompt tokens evaluated vs reused, and the tokens
no earlier call had read (the workload's floor), with the seconds each phase took.

`usage.prompt_tokens` keeps meaning the whole prompt, as every backend reports it; these counts say
how much of it the engine had to evaluate. They travel with a call's usage (EngineUsage) to the
transcript and the run summary, and are totalled per engine for the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from autogen_core.models import RequestUsage

from orchestrator.models.prompt_states import common_prefix

# the ledger below remembers this many distinct token sequences (about one per agent and judge
# question); beyond that the oldest is forgotten and its tokens would count as new again
LEDGER_BRANCHES = 512


@dataclass
class EngineUsage(RequestUsage):
    """A call's usage plus how many of its prompt tokens the engine did not have to evaluate."""

    reused_prompt_tokens: int = 0


def reused_prompt_tokens(usage: RequestUsage) -> int:
    return int(getattr(usage, "reused_prompt_tokens", 0))


@dataclass(frozen=True)
class CallCounts:
    prompt_tokens: int
    evaluated: int  # prompt tokens run through the model in this call
    first_read: int  # prompt tokens that no earlier call of this engine had evaluated
    completion_tokens: int = 0
    grammar: bool = False
    grammar_fallbacks: int = 0  # decode steps where no shortlisted token fit the grammar
    restored: bool = False  # the context came from a saved state
    prompt_seconds: float = 0.0
    decode_seconds: float = 0.0
    state_seconds: float = 0.0  # saving and restoring states

    @property
    def reused(self) -> int:
        return self.prompt_tokens - self.evaluated


@dataclass
class EngineTotals:
    """Sums of CallCounts over an engine's life, decode split by grammar or not."""

    calls: int = 0
    prompt_tokens: int = 0
    evaluated: int = 0
    first_read: int = 0
    completion_tokens: int = 0
    restores: int = 0
    prompt_seconds: float = 0.0
    state_seconds: float = 0.0
    free_decode_tokens: int = 0
    free_decode_seconds: float = 0.0
    grammar_decode_tokens: int = 0
    grammar_decode_seconds: float = 0.0
    grammar_fallbacks: int = 0

    def add(self, counts: CallCounts) -> None:
        self.calls += 1
        self.prompt_tokens += counts.prompt_tokens
        self.evaluated += counts.evaluated
        self.first_read += counts.first_read
        self.completion_tokens += counts.completion_tokens
        self.restores += counts.restored
        self.prompt_seconds += counts.prompt_seconds
        self.state_seconds += counts.state_seconds
        self.grammar_fallbacks += counts.grammar_fallbacks
        if counts.grammar:
            self.grammar_decode_tokens += counts.completion_tokens
            self.grammar_decode_seconds += counts.decode_seconds
        else:
            self.free_decode_tokens += counts.completion_tokens
            self.free_decode_seconds += counts.decode_seconds

    def as_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["reused"] = self.prompt_tokens - self.evaluated
        return out


class ReadOnceLedger:
    """Every token sequence the engine has evaluated, to count a prompt's never-read tokens.

    A prompt's first-read tokens are those past its longest common prefix with any earlier
    sequence: the least any engine, however it caches, must evaluate. Sequences that are a prefix
    of a later one are dropped (the later one covers them)."""

    def __init__(self, max_branches: int = LEDGER_BRANCHES) -> None:
        self._branches: list[np.ndarray] = []
        self._max = max_branches

    def first_read(self, prompt: np.ndarray) -> int:
        known = max((common_prefix(branch, prompt) for branch in self._branches), default=0)
        return len(prompt) - known

    def record(self, tokens: np.ndarray) -> None:
        self._branches = [b for b in self._branches
                          if not (len(b) <= len(tokens) and common_prefix(b, tokens) == len(b))]
        self._branches.append(tokens.copy())
        del self._branches[:-self._max]
