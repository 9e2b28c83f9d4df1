"""Model usage by role: one value type for accounting (transcripts, job results, run totals)
and for the run records that store it.

Frozen: adding a call, or another total, makes a new value, so a record never shares a total
that is still growing. Amounts are kept exact in memory and rounded when written.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, field_serializer

__all__ = ["NO_USAGE", "RoleUsage", "add_usage"]


class RoleUsage(BaseModel):
    """Calls and tokens of one role. Cache hits are counted apart: their tokens were not spent
    (prompt_tokens/completion_tokens/cost_usd cover real calls only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cached_calls: int = 0
    # tokens of cache hits, not included in prompt_tokens/completion_tokens (not spent)
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    cost_usd: float = 0.0  # from the backend's `prices`; 0 without a price table
    seconds: float = 0.0
    # of prompt_tokens, those the engine did not evaluate because its saved context held them
    # (known for the embedded backend; 0 where a backend does not say)
    reused_prompt_tokens: int = 0

    @field_serializer("cost_usd")
    def _round_cost(self, value: float) -> float:
        return round(value, 6)

    @field_serializer("seconds")
    def _round_seconds(self, value: float) -> float:
        return round(value, 4)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def evaluated_prompt_tokens(self) -> int:
        return self.prompt_tokens - self.reused_prompt_tokens

    def with_call(self, prompt: int, completion: int, seconds: float, cached: bool, cost: float = 0.0,
                  reused: int = 0) -> RoleUsage:
        if cached:
            return self.model_copy(update={
                "calls": self.calls + 1, "seconds": self.seconds + seconds, "cached_calls": self.cached_calls + 1,
                "cached_prompt_tokens": self.cached_prompt_tokens + prompt,
                "cached_completion_tokens": self.cached_completion_tokens + completion,
            })
        return self.model_copy(update={
            "calls": self.calls + 1, "seconds": self.seconds + seconds, "prompt_tokens": self.prompt_tokens + prompt,
            "completion_tokens": self.completion_tokens + completion, "cost_usd": self.cost_usd + cost,
            "reused_prompt_tokens": self.reused_prompt_tokens + reused,
        })

    def __add__(self, other: RoleUsage) -> RoleUsage:
        return RoleUsage(**{name: getattr(self, name) + getattr(other, name) for name in RoleUsage.model_fields})


NO_USAGE = RoleUsage(calls=0, prompt_tokens=0, completion_tokens=0)


def add_usage(totals: dict[str, RoleUsage], more: Mapping[str, RoleUsage]) -> None:
    """Add usage by role to running totals by role."""
    for role, usage in more.items():
        totals[role] = totals.get(role, NO_USAGE) + usage
