"""Per-conversation record of everything the agents did: model calls, selector decisions,
messages, rejections, plus token usage by role. Written to `transcripts/<id>.jsonl`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from orchestrator.store.usage import NO_USAGE, RoleUsage


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
                  cost: float = 0.0, reused: int = 0) -> None:
        self.usage[role] = self.usage.get(role, NO_USAGE).with_call(prompt, completion, seconds, cached, cost,
                                                                    reused=reused)

    def usage_by_role(self) -> dict[str, RoleUsage]:
        """The usage so far, roles in name order (as records list them)."""
        return dict(sorted(self.usage.items()))

    @property
    def llm_seconds(self) -> float:
        return sum(u.seconds for u in self.usage.values())
