"""Generator-Critic iterations (Synthetic-Persona-Chat), planned by the driver: for each
experience a job generates K candidate conversations and lets the critic panel pick the best
passing one (orchestrator/job.py). After each iteration the accepted conversations' experiences
join the few-shot hub as `accepted` shots, and the next iteration's experience prompts sample
those shots first: the generator learns from what the critics accepted.

`--num-conversations N` means N accepted conversations: N is spread over the configured
iterations; if the target is not met, further rounds run until the budget (candidates attempted,
tokens) is spent. Budgets are checked when a job is dispatched: a job reserves the candidates it
may generate, so the candidate budget is never overrun; a job in flight when the token budget
runs out finishes its candidates.

`GeneratorCritic` only counts and plans: it sees job results, never the run, the store or the
executor. The driver writes rejected.jsonl, iterations.json and the hub.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import CriticsConfig
from orchestrator.job import JobResult
from orchestrator.store.usage import RoleUsage

STOP_TARGET = "target reached"
STOP_CANDIDATES = "max_candidates budget spent"
STOP_TOKENS = "max_tokens budget spent"


@dataclass
class Iteration:
    number: int
    indices: list[int]
    usage_before: dict[str, dict[str, Any]] = field(default_factory=dict)
    experiences: int = 0
    reviewed: int = 0
    candidates: int = 0
    generation_failures: int = 0
    accepted: list[tuple[str, Any]] = field(default_factory=list)  # (conversation id, experience)
    failed_gates: Counter[str] = field(default_factory=Counter)
    expert_status: dict[str, Counter[str]] = field(default_factory=dict)
    quality_scores: list[float] = field(default_factory=list)
    accepted_quality: list[float] = field(default_factory=list)
    shots_used: list[str] = field(default_factory=list)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _usage_delta(before: dict[str, dict[str, Any]], after: dict[str, RoleUsage]) -> dict[str, dict[str, Any]]:
    delta: dict[str, dict[str, Any]] = {}
    for role, usage in sorted(after.items()):
        now = usage.model_dump()
        was = before.get(role, {})
        diff = {k: round(v - was.get(k, 0), 4) for k, v in now.items()}
        if diff["calls"]:
            delta[role] = diff
    return delta


class GeneratorCritic:
    def __init__(self, config: CriticsConfig, *, target: int) -> None:
        self.config = config
        self.target = target
        self.max_candidates = (config.max_candidates
                               or config.budget_per_conversation * config.candidates_per_experience * target)
        self.max_tokens = config.max_tokens
        self.attempts = 0  # candidates attempted, plus experiences that failed
        self.reserved = 0  # candidates reserved by jobs in flight
        self.accepted = 0
        self.rejected_candidates = 0
        self.stop_reason = ""
        self.report: list[dict[str, Any]] = []
        self.next_index = 0
        self.current: Iteration | None = None

    def restore(self, report: list[dict[str, Any]]) -> None:
        """Continue an interrupted run: completed iterations stand as reported; the interrupted
        one is planned again the same way (same indices, same shots)."""
        self.report = list(report)
        if self.report:
            last = self.report[-1]
            self.accepted = sum(it["accepted"] for it in self.report)
            self.attempts = int(last["attempts_after"])
            self.rejected_candidates = int(last["rejected_after"])
            self.next_index = int(last["indices"][1])

    # ------------------------------------------------------------------ budget
    def spent(self, tokens: int) -> str | None:
        if self.attempts + self.reserved >= self.max_candidates:
            return STOP_CANDIDATES
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return STOP_TOKENS
        return None

    def reserve(self, tokens: int) -> int:
        """Candidates the next job may generate (0: a budget is spent, dispatch nothing)."""
        if self.spent(tokens):
            return 0
        k = min(self.config.candidates_per_experience, self.max_candidates - self.attempts - self.reserved)
        self.reserved += k
        return k

    # ------------------------------------------------------------------ planning
    def next_iteration(self, tokens: int, usage: dict[str, RoleUsage]) -> Iteration | None:
        """The next iteration's conversation indices, or None (and `stop_reason`) when done."""
        if self.target - self.accepted <= 0:
            self.stop_reason = STOP_TARGET
            return None
        spent = self.spent(tokens)
        if spent:
            self.stop_reason = spent
            return None
        number = len(self.report) + 1
        rounds_left = max(1, self.config.iterations - number + 1)
        slots = math.ceil((self.target - self.accepted) / rounds_left)
        budget_left = self.max_candidates - self.attempts
        slots = max(1, min(slots, math.ceil(budget_left / self.config.candidates_per_experience)))
        indices = list(range(self.next_index, self.next_index + slots))
        self.next_index += slots
        self.current = Iteration(number, indices, usage_before={r: u.model_dump() for r, u in usage.items()})
        return self.current

    def prefer(self, iteration: Iteration) -> tuple[str, ...]:
        """Iteration 1 samples the hub as it is; later iterations prefer accepted shots."""
        return () if iteration.number == 1 else ("accepted",)

    # ------------------------------------------------------------------ results
    def consume(self, result: JobResult, *, reserved: int = 0) -> None:
        """Count one decided experience: live, or read back from its records on --resume."""
        it = self.current
        assert it is not None, "consume() outside an iteration"
        self.reserved -= reserved
        it.experiences += 1
        if not result.experience_generated:
            self.attempts += 1
            return
        it.reviewed += 1
        it.shots_used += result.shot_ids
        failed = len(result.candidate_failures)
        it.candidates += result.candidates_attempted
        it.generation_failures += failed
        self.attempts += result.candidates_attempted
        for review in result.reviews:
            # counted from the verdicts (rejected_by also names "quality")
            it.failed_gates.update(v.expert for v in review.verdicts if v.role == "gate" and v.status == "fail")
            for v in review.verdicts:
                it.expert_status.setdefault(v.expert, Counter())[v.status] += 1
            if review.mean_quality is not None:
                it.quality_scores.append(review.mean_quality)
            if review.decision == "rejected":
                self.rejected_candidates += 1
        if result.record is not None:
            self.accepted += 1
            it.accepted.append((result.record.id, result.record.experience))
            quality = result.record.review.mean_quality if result.record.review else None
            if quality is not None:
                it.accepted_quality.append(quality)

    def close_iteration(self, usage: dict[str, RoleUsage], *, hub_added: list[str], hub_mode: str) -> dict[str, Any]:
        it = self.current
        assert it is not None
        tokens = _usage_delta(it.usage_before, usage)
        total_tokens = sum(u["prompt_tokens"] + u["completion_tokens"] for u in tokens.values())
        experts = {}
        for expert, counts in sorted(it.expert_status.items()):
            judged = counts["pass"] + counts["fail"]
            experts[expert] = {**{k: counts[k] for k in ("pass", "fail", "abstain", "skipped")},
                               "pass_rate": round(counts["pass"] / judged, 3) if judged else None}
        accepted = len(it.accepted)
        entry = {
            "iteration": it.number,
            "experiences": it.experiences,
            "experience_failures": it.experiences - it.reviewed,
            "candidates": it.candidates,
            "generation_failures": it.generation_failures,
            "accepted": accepted,
            "acceptance_rate": round(accepted / it.candidates, 3) if it.candidates else None,
            "experience_acceptance_rate": round(accepted / it.reviewed, 3) if it.reviewed else None,
            "rejections_by_expert": dict(sorted(it.failed_gates.items())),
            "experts": experts,
            "mean_quality": _mean(it.quality_scores),
            "mean_quality_accepted": _mean(it.accepted_quality),
            "tokens_by_role": tokens,
            "tokens": total_tokens,
            "tokens_per_accepted": round(total_tokens / accepted) if accepted else None,
            "shots_used": sorted(set(it.shots_used)),
            "shots_from_accepted": sorted({s for s in it.shots_used if s.startswith("acc-")}),
            "hub_added": hub_added,
            "hub_mode": hub_mode,
            # where the run stood after this iteration: what --resume continues from
            "indices": [it.indices[0], it.indices[-1] + 1],
            "attempts_after": self.attempts,
            "rejected_after": self.rejected_candidates,
        }
        self.report.append(entry)
        self.current = None
        return entry

    def manifest(self) -> dict[str, Any]:
        return {"stop_reason": self.stop_reason, "accepted": self.accepted,
                "rejected_candidates": self.rejected_candidates, "attempts": self.attempts,
                "max_candidates": self.max_candidates, "max_tokens": self.max_tokens, "iterations": self.report}


def summary_lines(report: list[dict[str, Any]]) -> list[str]:
    """One line per iteration for the closing summary."""
    lines = []
    for it in report:
        rate = "n/a" if it["acceptance_rate"] is None else f"{it['acceptance_rate']:.0%}"
        rejections = ", ".join(f"{k} {v}" for k, v in it["rejections_by_expert"].items()) or "none"
        roles = ", ".join(f"{r} {u['prompt_tokens'] + u['completion_tokens']:,}"
                          for r, u in it["tokens_by_role"].items())
        quality = "n/a" if it["mean_quality"] is None else f"{it['mean_quality']:.2f}"
        lines.append(
            f"iteration {it['iteration']}: {it['candidates']} candidates from {it['experiences']} experiences, "
            f"{it['accepted']} accepted ({rate}); rejections: {rejections}; mean quality {quality}; "
            f"tokens {it['tokens']:,} ({roles}); shots from accepted: {len(it['shots_from_accepted'])}"
        )
    return lines
