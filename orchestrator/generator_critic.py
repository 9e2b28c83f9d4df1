"""Generator-Critic iterations (Synthetic-Persona-Chat): for each experience generate K candidate
conversations, let the critic panel judge them, keep the best passing one. After each iteration
the accepted conversations' experiences join the few-shot hub as `accepted` shots, and the next
iteration's experience prompts sample those shots first: the generator learns from what the
critics accepted.

`--num-conversations N` means N accepted conversations: N is spread over the configured
iterations; if the target is not met, further rounds run until the budget (candidates attempted,
tokens) is spent. Rejected candidates go to rejected.jsonl with their verdicts; the per-iteration
report goes to iterations.json and the closing summary.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from agents.critics import CandidateTurn, CandidateView
from agents.schemas import Experience
from orchestrator.config import CriticsConfig
from orchestrator.conversation import ConversationPrompts, Turn, run_group_chat
from orchestrator.critic_panel import CandidateReview, CriticPanel, PanelDecision
from orchestrator.errors import UserError
from orchestrator.fewshot_hub import Shot
from orchestrator.records import FailureRecord, RejectedRecord, Review, Timing, TurnRecord
from orchestrator.resume import RestoredIterations
from orchestrator.transcript import RoleUsage, Transcript

STOP_TARGET = "target reached"
STOP_CANDIDATES = "max_candidates budget spent"
STOP_TOKENS = "max_tokens budget spent"


class RunLike(Protocol):
    """What the Generator-Critic needs from the pipeline's run (orchestrator.pipeline._Run)."""

    req: Any
    p: Any
    store: Any
    usage: dict[str, RoleUsage]
    progress: Any
    failure_reasons: list[str]

    async def conversation(self, index: int) -> None: ...

    def on_progress(self, progress: Any) -> None: ...

    def _account(self, transcript: Transcript) -> dict[str, Any]: ...


@dataclass
class Slot:
    """One experience of one iteration, handed over by the pipeline once it exists."""

    index: int
    conv_id: str
    seed: int
    num_turns: int
    experience: Experience
    shots: list[Shot]
    transcript: Transcript
    started_at: str
    t0: float


@dataclass
class IterationStats:
    iteration: int
    experiences: int = 0
    reviewed: int = 0
    candidates: int = 0
    generation_failures: int = 0
    accepted: list[tuple[str, Experience]] = field(default_factory=list)
    failed_gates: Counter[str] = field(default_factory=Counter)
    expert_status: dict[str, Counter[str]] = field(default_factory=dict)
    quality_scores: list[float] = field(default_factory=list)
    accepted_quality: list[float] = field(default_factory=list)
    shots_used: list[str] = field(default_factory=list)
    usage_before: dict[str, dict[str, Any]] = field(default_factory=dict)
    indices: tuple[int, int] = (0, 0)  # [first, end) conversation indices of this iteration

    def add_review(self, review: CandidateReview) -> None:
        self.failed_gates.update(review.failed_gates)
        for v in review.verdicts:
            self.expert_status.setdefault(v.expert, Counter())[v.status] += 1
        if review.mean_quality is not None:
            self.quality_scores.append(review.mean_quality)


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _usage_delta(before: dict[str, dict[str, Any]], after: dict[str, RoleUsage]) -> dict[str, dict[str, Any]]:
    delta: dict[str, dict[str, Any]] = {}
    for role, usage in sorted(after.items()):
        now = usage.as_dict()
        was = before.get(role, {})
        diff = {k: round(v - was.get(k, 0), 4) for k, v in now.items()}
        if diff["calls"]:
            delta[role] = diff
    return delta


class GeneratorCritic:
    def __init__(self, config: CriticsConfig, panel: CriticPanel, *, target: int) -> None:
        self.config = config
        self.panel = panel
        self.target = target
        self.max_candidates = config.max_candidates or 2 * config.candidates_per_experience * target
        self.max_tokens = config.max_tokens
        self.attempts = 0  # candidates attempted, plus experiences that failed
        self.accepted = 0
        self.rejected_candidates = 0
        self.stop_reason = ""
        self.report: list[dict[str, Any]] = []
        self._iteration: IterationStats | None = None
        self._slot_shots: dict[int, list[Shot]] = {}
        self._reviewed_slots: set[int] = set()
        self._next_index = 0
        self._restored: RestoredIterations | None = None

    def restore(self, restored: RestoredIterations) -> None:
        """Continue an interrupted run: completed iterations stand as reported, the interrupted
        one is planned again the same way (same indices, same shots) and its experiences that were
        already decided are counted from their records instead of being generated again."""
        self._restored = restored
        self.report = list(restored.report)
        if self.report:
            last = self.report[-1]
            self.accepted = sum(it["accepted"] for it in self.report)
            self.attempts = int(last["attempts_after"])
            self.rejected_candidates = int(last["rejected_after"])
            self._next_index = int(last["indices"][1])

    # ------------------------------------------------------------------ budget
    def _spent(self, run: RunLike, in_flight_tokens: int = 0) -> str | None:
        if self.attempts >= self.max_candidates:
            return STOP_CANDIDATES
        if self.max_tokens is not None and run.progress.tokens + in_flight_tokens >= self.max_tokens:
            return STOP_TOKENS
        return None

    # ------------------------------------------------------------------ the iterations
    def shots_for(self, run: RunLike, index: int) -> list[Shot]:
        """Iteration 1 samples the hub as it is; later iterations prefer accepted shots."""
        if index not in self._slot_shots:
            first = self._iteration is None or self._iteration.iteration == 1
            self._slot_shots[index] = run.p.hub.sample(prefer=() if first else ("accepted",))
        return self._slot_shots[index]

    async def run(self, run: RunLike) -> None:
        semaphore = asyncio.Semaphore(max(1, run.req.concurrency))
        next_index = self._next_index
        iteration = len(self.report)
        while True:
            remaining = self.target - self.accepted
            if remaining <= 0:
                self.stop_reason = STOP_TARGET
                break
            spent = self._spent(run)
            if spent:
                self.stop_reason = spent
                break
            iteration += 1
            rounds_left = max(1, self.config.iterations - iteration + 1)
            slots = math.ceil(remaining / rounds_left)
            budget_left = self.max_candidates - self.attempts
            slots = max(1, min(slots, math.ceil(budget_left / self.config.candidates_per_experience)))
            stats = IterationStats(iteration, usage_before={r: u.as_dict() for r, u in run.usage.items()},
                                   indices=(next_index, next_index + slots))
            self._iteration = stats
            indices = list(range(next_index, next_index + slots))
            next_index += slots
            # the hub as this iteration found it, then its shots in index order: a resumed run
            # restores that state and draws the same shots
            run.store.save_hub(run.p.hub.state())
            for index in indices:
                self.shots_for(run, index)

            await asyncio.gather(*(self._slot(run, stats, semaphore, i) for i in indices))
            self._close_iteration(run, stats)

    async def _slot(self, run: RunLike, stats: IterationStats, semaphore: asyncio.Semaphore, index: int) -> None:
        async with semaphore:
            if self._restored is not None and index in self._restored.decided:
                self._recount(stats, index, self._restored)
                return
            if self._spent(run):
                return
            stats.experiences += 1
            await run.conversation(index)
            if index not in self._reviewed_slots:  # the experience itself failed: one attempt spent
                self.attempts += 1

    def _recount(self, stats: IterationStats, index: int, restored: RestoredIterations) -> None:
        """An experience decided before the interruption: its records stand, its numbers count."""
        stats.experiences += 1
        reviews = restored.reviews.get(index, [])
        if not reviews and index not in restored.accepted:  # the experience itself failed
            self.attempts += 1
            return
        self._reviewed_slots.add(index)
        stats.reviewed += 1
        stats.shots_used += restored.shots.get(index, [])
        failed_candidates = restored.candidate_failures.get(index, 0)
        stats.candidates += len(reviews) + failed_candidates
        stats.generation_failures += failed_candidates
        self.attempts += len(reviews) + failed_candidates
        for review in reviews:
            # counted from the verdicts, as a live review is (rejected_by also names "quality")
            stats.add_review(CandidateReview(review.candidate, list(review.verdicts)))
            if review.decision == "rejected":
                self.rejected_candidates += 1
        if index in restored.accepted:
            conv_id, experience, quality = restored.accepted[index]
            self.accepted += 1
            stats.accepted.append((conv_id, experience))
            if quality is not None:
                stats.accepted_quality.append(quality)

    def _close_iteration(self, run: RunLike, stats: IterationStats) -> None:
        added = []
        for conv_id, experience in stats.accepted:
            shot_id = f"acc-{conv_id}"
            if run.p.hub.add(shot_id, experience, origin="accepted"):
                added.append(shot_id)
        if added:
            run.store.save_hub(run.p.hub.state())
        tokens = _usage_delta(stats.usage_before, run.usage)
        total_tokens = sum(u["prompt_tokens"] + u["completion_tokens"] for u in tokens.values())
        experts = {}
        for expert, counts in sorted(stats.expert_status.items()):
            judged = counts["pass"] + counts["fail"]
            experts[expert] = {**{k: counts[k] for k in ("pass", "fail", "abstain", "skipped")},
                               "pass_rate": round(counts["pass"] / judged, 3) if judged else None}
        accepted = len(stats.accepted)
        self.report.append({
            "iteration": stats.iteration,
            "experiences": stats.experiences,
            "experience_failures": stats.experiences - stats.reviewed,
            "candidates": stats.candidates,
            "generation_failures": stats.generation_failures,
            "accepted": accepted,
            "acceptance_rate": round(accepted / stats.candidates, 3) if stats.candidates else None,
            "experience_acceptance_rate": round(accepted / stats.reviewed, 3) if stats.reviewed else None,
            "rejections_by_expert": dict(sorted(stats.failed_gates.items())),
            "experts": experts,
            "mean_quality": _mean(stats.quality_scores),
            "mean_quality_accepted": _mean(stats.accepted_quality),
            "tokens_by_role": tokens,
            "tokens": total_tokens,
            "tokens_per_accepted": round(total_tokens / accepted) if accepted else None,
            "shots_used": sorted(set(stats.shots_used)),
            "shots_from_accepted": sorted({s for s in stats.shots_used if s.startswith("acc-")}),
            "hub_added": added,
            "hub_mode": run.p.hub.mode,
            # where the run stood after this iteration: what --resume continues from
            "indices": list(stats.indices),
            "attempts_after": self.attempts,
            "rejected_after": self.rejected_candidates,
        })
        run.store.write_iterations(self.report)

    # ------------------------------------------------------------------ one experience
    async def review_experience(self, run: RunLike, slot: Slot) -> tuple[list[Turn], Review] | None:
        """K candidates → panel → the winner's turns and review (the pipeline writes its record),
        or None when every candidate was rejected. Rejected candidates go to rejected.jsonl.
        Never raises for a candidate's failure: a model failure costs that candidate."""
        stats = self._iteration
        if stats is None:
            raise UserError("review_experience called outside GeneratorCritic.run")
        self._reviewed_slots.add(slot.index)
        stats.reviewed += 1
        stats.shots_used += [s.id for s in slot.shots]
        scenario = run.req.scenario
        transcript = slot.transcript
        k_total = self.config.candidates_per_experience
        transcript.add("generator_critic", iteration=stats.iteration, candidates=k_total,
                       shots=[{"id": s.id, "origin": s.origin} for s in slot.shots])
        candidates: dict[int, list[Turn]] = {}
        reviews: list[CandidateReview] = []
        prompts = ConversationPrompts(run.p.prompts["persona"], run.p.prompts["group_chat"])
        for k in range(k_total):
            spent = self._spent(run, transcript.total_tokens)
            if spent:
                transcript.add("candidate_skipped", candidate=k, reason=spent)
                break
            self.attempts += 1
            stats.candidates += 1
            seed = slot.seed * 1009 + k
            transcript.add("candidate_started", candidate=k, seed=seed)
            try:
                turns = await run_group_chat(slot.experience, scenario=scenario, prompts=prompts, models=run.p.models,
                                             num_turns=slot.num_turns, transcript=transcript, seed=seed)
            except (UserError, asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:  # a model failure costs this candidate
                reason = f"{type(exc).__name__}: {exc}"
                stats.generation_failures += 1
                transcript.add("candidate_failed", candidate=k, reason=reason)
                run.store.append_failure(FailureRecord(
                    id=f"{slot.conv_id}-k{k}", index=slot.index, scenario=scenario.name, stage="conversation",
                    reason=reason, usage={},
                    timing=Timing(started_at=slot.started_at, wall_seconds=0.0, llm_seconds=0.0),
                ))
                run.failure_reasons.append(f"{slot.conv_id}-k{k} (candidate): {reason}")
                continue
            candidates[k] = turns
            view = CandidateView(experience=slot.experience,
                                 turns=[CandidateTurn(speaker=t.speaker, text=t.text) for t in turns])
            review = await self.panel.review(k, view, clients=_clients(run), transcript=transcript,
                                             seed=seed)
            reviews.append(review)
            stats.add_review(review)
        decision = self.panel.decide(reviews)
        transcript.add("panel_decision", winner=decision.winner, votes=decision.votes,
                       reasons=decision.reasons, rejected_by=decision.rejected_by, tie_break=decision.tie_break)
        return self._write(run, slot, candidates, reviews, decision, stats)

    def _review(self, stats: IterationStats, k: int, n: int, review: CandidateReview,
                decision: PanelDecision) -> Review:
        won = decision.winner == k
        return Review(
            iteration=stats.iteration, candidate=k, candidates=n, decision="accepted" if won else "rejected",
            reason=decision.reasons.get(k, ""), rejected_by=decision.rejected_by.get(k, []),
            votes=decision.votes.get(k, 0), mean_quality=review.mean_quality, verdicts=review.verdicts,
        )

    def _write(self, run: RunLike, slot: Slot, candidates: dict[int, list[Turn]], reviews: list[CandidateReview],
               decision: PanelDecision, stats: IterationStats) -> tuple[list[Turn], Review] | None:
        scenario = run.req.scenario
        n = len(candidates)
        for review in reviews:
            if review.candidate == decision.winner:
                continue
            self.rejected_candidates += 1
            run.store.append_rejected(RejectedRecord(
                id=f"{slot.conv_id}-k{review.candidate}", experience_id=slot.conv_id, index=slot.index,
                scenario=scenario.name, experience=slot.experience,
                turns=[TurnRecord(speaker=t.speaker, text=t.text) for t in candidates[review.candidate]],
                review=self._review(stats, review.candidate, n, review, decision),
                transcript=f"transcripts/{slot.conv_id}.jsonl",
            ))
        if decision.winner is None:
            run.store.write_transcript(slot.conv_id, slot.transcript.events)
            # the experience's one record: it was decided, and what it cost (read by --resume)
            reason = "no candidate passed the critic panel: " + "; ".join(
                f"k{k}: {why}" for k, why in sorted(decision.reasons.items())) if reviews else \
                "every candidate failed to generate"
            run.store.append_failure(FailureRecord(
                id=slot.conv_id, index=slot.index, scenario=scenario.name, stage="review", reason=reason,
                usage=run._account(slot.transcript),
                timing=Timing(started_at=slot.started_at, wall_seconds=round(time.perf_counter() - slot.t0, 3),
                              llm_seconds=round(slot.transcript.llm_seconds, 3)),
            ))
            run.progress.failed += 1
            run.on_progress(run.progress)
            return None
        winner = next(r for r in reviews if r.candidate == decision.winner)
        self.accepted += 1
        stats.accepted.append((slot.conv_id, slot.experience))
        if winner.mean_quality is not None:
            stats.accepted_quality.append(winner.mean_quality)
        return candidates[decision.winner], self._review(stats, decision.winner, n, winner, decision)


def _clients(run: RunLike) -> Any:
    def factory(expert: str, tr: Transcript, seed: int) -> Any:
        return run.p.models.client("critic", agent=f"critic_{expert}", transcript=tr, seed=seed)

    return factory


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
