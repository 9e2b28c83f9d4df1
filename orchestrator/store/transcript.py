"""Per-conversation record of everything the agents did: model calls, selector decisions,
messages, rejections, plus token usage by role. Written to `transcripts/<id>.jsonl`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RoleUsage:
    """Calls and tokens of one role. Cache hits are counted apart: their tokens were not spent
    (prompt_tokens/completion_tokens/cost_usd cover real calls only)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_calls: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0

    def add(self, prompt: int, completion: int, seconds: float, cached: bool, cost: float = 0.0) -> None:
        self.calls += 1
        self.seconds += seconds
        if cached:
            self.cached_calls += 1
            self.cached_prompt_tokens += prompt
            self.cached_completion_tokens += completion
            return
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.cost_usd += cost

    def merge(self, other: RoleUsage) -> None:
        for name in ("calls", "prompt_tokens", "completion_tokens", "cached_calls", "cached_prompt_tokens",
                     "cached_completion_tokens", "cost_usd", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_calls": self.cached_calls,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "cached_completion_tokens": self.cached_completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "seconds": round(self.seconds, 4),
        }


@dataclass
class Transcript:
    """Append-only event list of one conversation (or one stage), in the order things happened."""

    events: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, RoleUsage] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def add(self, kind: str, **data: Any) -> None:
        t = round(time.perf_counter() - self.started, 4)
        self.events.append({"seq": len(self.events), "t": t, "event": kind, **data})

    def add_usage(self, role: str, prompt: int, completion: int, seconds: float, cached: bool,
                  cost: float = 0.0) -> None:
        self.usage.setdefault(role, RoleUsage()).add(prompt, completion, seconds, cached, cost)

    def absorb(self, other: Transcript) -> None:
        """Fold a stage's transcript (e.g. experience generation) into this one."""
        offset = len(self.events)
        for i, event in enumerate(other.events):
            self.events.append({**event, "seq": offset + i})
        for role, usage in other.usage.items():
            self.usage.setdefault(role, RoleUsage()).merge(usage)

    def usage_dict(self) -> dict[str, dict[str, Any]]:
        return {role: u.as_dict() for role, u in sorted(self.usage.items())}

    @property
    def llm_seconds(self) -> float:
        return sum(u.seconds for u in self.usage.values())

    @property
    def total_tokens(self) -> int:
        return sum(u.total_tokens for u in self.usage.values())

    @property
    def cost_usd(self) -> float:
        return sum(u.cost_usd for u in self.usage.values())
