"""One conversation as a self-contained job: inputs in, a `JobResult` out.

A `ConversationJob` carries everything that is particular to one conversation (index, seed,
shots, drawn personas, group size, turn count, and for Generator-Critic runs its iteration and
how many candidates it may generate); a `RunContext` carries what every job of a run shares
(scenario, prompt templates, critic panel). `run_job` turns them into a `JobResult`: the record
or the failure, every rejected candidate, the transcript events and usage by role.

Running a job writes no file and touches no counter, hub or run state: the driver
(orchestrator/driver.py) plans jobs, consumes results and alone writes the run directory. Jobs
and results are plain picklable data, so an executor may run them in another process or on
another machine (orchestrator/executors/).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agents.critics import critic_agent_name
from agents.errors import GenerationError, UserError
from agents.schemas import Experience, Turn
from agents.speaker_ids import speaker_ids
from agents.verdicts import CandidateView
from orchestrator.config import Scenario
from orchestrator.critics.panel import CandidateReview, CriticPanel, PanelDecision
from orchestrator.models.hub import ModelHub
from orchestrator.models.resilience import rejection_of
from orchestrator.personas.sources import GivenPersona, describe_draw, framed_request
from orchestrator.stages.conversation import ConversationPrompts, run_group_chat
from orchestrator.stages.experience import generate_experience
from orchestrator.stages.fewshot_hub import Shot
from orchestrator.store.layout import transcript_name
from orchestrator.store.records import (
    ConversationRecord,
    FailureRecord,
    Provenance,
    RejectedRecord,
    Review,
    Timing,
)
from orchestrator.store.transcript import Transcript
from orchestrator.store.usage import RoleUsage

__all__ = ["ConversationJob", "JobResult", "RunContext", "conversation_id", "plan_job", "run_job"]


def conversation_id(index: int) -> str:
    return f"c{index:06d}"


@dataclass(frozen=True)
class RunContext:
    """What every job of one run shares; sent once to each worker."""

    scenario: Scenario
    prompts: dict[str, Any]  # name -> PromptTemplate
    prompt_versions: dict[str, str]
    models_by_role: dict[str, str]
    panel: CriticPanel | None = None  # Generator-Critic runs only


@dataclass(frozen=True)
class ConversationJob:
    index: int
    seed: int
    shots: tuple[Shot, ...]
    num_participants: int
    num_turns: int
    names: tuple[str, ...] = ()  # fresh names offered to the experience generator
    people: tuple[GivenPersona, ...] | None = None  # sampled or reused personas
    iteration: int = 0  # Generator-Critic runs: the iteration that planned this job
    candidates: int = 0  # Generator-Critic runs: K candidates at most (0: a plain run)

    @property
    def conv_id(self) -> str:
        return conversation_id(self.index)


@dataclass
class JobResult:
    """Everything a job produced. Exactly one of `record` / `failure` is set."""

    index: int
    record: ConversationRecord | None = None
    failure: FailureRecord | None = None
    rejected: list[RejectedRecord] = field(default_factory=list)  # candidates the panel did not accept
    candidate_failures: list[FailureRecord] = field(default_factory=list)  # candidates that failed to generate
    transcript: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, RoleUsage] = field(default_factory=dict)
    shot_ids: list[str] = field(default_factory=list)
    iteration: int = 0
    experience_generated: bool = False  # False: the experience stage itself failed
    # the endpoint rejected a request as invalid (EndpointRejected): it fails the same way every
    # time, so the driver stops a run whose last jobs all failed with the same rejection
    rejected_request: str | None = None

    @property
    def conv_id(self) -> str:
        return conversation_id(self.index)

    @property
    def written(self) -> bool:
        return self.record is not None

    @property
    def tokens(self) -> int:
        return sum(u.total_tokens for u in self.usage.values())

    @property
    def candidates_attempted(self) -> int:
        reviewed = len(self.rejected) + (1 if self.record is not None and self.record.review is not None else 0)
        return reviewed + len(self.candidate_failures)

    @property
    def reviews(self) -> list[Review]:
        """The panel's review of every judged candidate, winner included."""
        found = [r.review for r in self.rejected]
        if self.record is not None and self.record.review is not None:
            found.append(self.record.review)
        return sorted(found, key=lambda r: r.candidate)


def plan_job(
    index: int,
    *,
    scenario: Scenario,
    run_seed: int,
    shots: list[Shot],
    names: list[str],
    personas: Any = None,  # PersonaSource | None
    iteration: int = 0,
    candidates: int = 0,
) -> ConversationJob:
    """The job of conversation `index`: everything random about it derives from the run seed and
    the index, so a resumed or re-dispatched job is the same job."""
    seed = run_seed * 1_000_003 + index
    rng = random.Random(seed)
    num_participants = rng.randint(scenario.participants.min, scenario.participants.max)
    num_turns = rng.randint(scenario.turns.min, scenario.turns.max)
    picked = rng.sample(names, num_participants) if names else []
    people = None
    if personas is not None:
        drawn = personas.draw(index, personas.group_size(index) or num_participants)
        if drawn is not None:
            people, num_participants = tuple(drawn), len(drawn)
    return ConversationJob(index=index, seed=seed, shots=tuple(shots), num_participants=num_participants,
                           num_turns=num_turns, names=tuple(picked), people=people, iteration=iteration,
                           candidates=candidates)


def _timing(started_at: str, t0: float, transcript: Transcript) -> Timing:
    return Timing(started_at=started_at, wall_seconds=round(time.perf_counter() - t0, 3),
                  llm_seconds=round(transcript.llm_seconds, 3))


async def run_job(job: ConversationJob, context: RunContext, models: ModelHub) -> JobResult:
    """Run one job. A model failure costs this conversation (a failure in the result); a user
    error (bad template, bad configuration) or a cancellation propagates."""
    scenario, prompts = context.scenario, context.prompts
    transcript = Transcript()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    shot_ids = [s.id for s in job.shots]
    result = JobResult(index=job.index, shot_ids=shot_ids, iteration=job.iteration)
    transcript.add("conversation_started", id=job.conv_id, seed=job.seed, shots=shot_ids,
                   num_participants=job.num_participants, num_turns=job.num_turns)
    shots = [s.experience for s in job.shots]
    framed = None
    if job.people is not None:
        transcript.add("personas_drawn", source=scenario.personas.source, personas=describe_draw(job.people))
        framed = framed_request(job.people, prompts["experience_generator"], shots=shots,
                                pin=models.enforces_schemas("experience_generator"))
    stage = "experience"
    review: Review | None = None
    try:
        experience = await generate_experience(
            models, prompts["experience_generator"], shots=shots, num_participants=job.num_participants,
            transcript=transcript, seed=job.seed, max_attempts=scenario.experience_attempts,
            names=list(job.names), framed=framed,
        )
        result.experience_generated = True
        stage = "conversation"
        if context.panel is not None:
            outcome = await _review_candidates(job, context, context.panel, models, experience, transcript,
                                               result, started_at)
            if isinstance(outcome, str):  # every candidate rejected or failed: the experience's one failure
                result.failure = FailureRecord(
                    id=job.conv_id, index=job.index, scenario=scenario.name, stage="review", reason=outcome,
                    usage=transcript.usage_by_role(), timing=_timing(started_at, t0, transcript))
                result.transcript, result.usage = transcript.events, transcript.usage
                return result
            turns, review = outcome
        else:
            turns = await run_group_chat(
                experience, scenario=scenario,
                prompts=ConversationPrompts(prompts["persona"], prompts["group_chat"]),
                models=models, num_turns=job.num_turns, transcript=transcript, seed=job.seed,
            )
    except (UserError, asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception as exc:  # a model failure costs this conversation, not the run
        attempts = exc.attempts if isinstance(exc, GenerationError) else []
        reason = f"{type(exc).__name__}: {exc}"
        result.rejected_request = rejection_of(exc)
        transcript.add("conversation_failed", stage=stage, reason=reason)
        result.failure = FailureRecord(
            id=job.conv_id, index=job.index, scenario=scenario.name, stage=stage,  # type: ignore[arg-type]
            reason=reason, attempts=attempts, usage=transcript.usage_by_role(),
            timing=_timing(started_at, t0, transcript))
        result.transcript, result.usage = transcript.events, transcript.usage
        return result
    rejections = [e for e in transcript.events if e["event"] == "experience_rejected"]
    result.record = ConversationRecord(
        id=job.conv_id, index=job.index, scenario=scenario.name, experience=experience,
        participants=[p.name for p in experience.participants],
        speaker_ids={agent: name for name, agent in speaker_ids([p.name for p in experience.participants]).items()},
        turns=turns,
        usage=transcript.usage_by_role(),
        timing=_timing(started_at, t0, transcript),
        models=context.models_by_role,
        provenance=Provenance(
            seed=job.seed, shot_ids=shot_ids, prompt_versions=context.prompt_versions,
            num_turns_target=job.num_turns, experience_attempts=len(rejections) + 1,
            experience_rejections=[{"attempt": e["attempt"], "reason": e["reason"]} for e in rejections],
        ),
        review=review,
    )
    result.transcript, result.usage = transcript.events, transcript.usage
    return result


async def _review_candidates(
    job: ConversationJob, context: RunContext, panel: CriticPanel, models: ModelHub, experience: Experience,
    transcript: Transcript, result: JobResult, started_at: str,
) -> tuple[list[Turn], Review] | str:
    """K candidates → panel → the winner's turns and review, or why none passed. Rejected
    and failed candidates land in `result`. A candidate's model failure costs that candidate."""
    scenario = context.scenario
    transcript.add("generator_critic", iteration=job.iteration, candidates=job.candidates,
                   shots=[{"id": s.id, "origin": s.origin} for s in job.shots])
    prompts = ConversationPrompts(context.prompts["persona"], context.prompts["group_chat"])

    def critic_client(expert: str, tr: Transcript, seed: int) -> Any:
        return models.client("critic", agent=critic_agent_name(expert), transcript=tr, seed=seed)

    candidates: dict[int, list[Turn]] = {}
    reviews: list[CandidateReview] = []
    for k in range(job.candidates):
        seed = job.seed * 1009 + k
        transcript.add("candidate_started", candidate=k, seed=seed)
        try:
            turns = await run_group_chat(experience, scenario=scenario, prompts=prompts, models=models,
                                         num_turns=job.num_turns, transcript=transcript, seed=seed)
        except (UserError, asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a model failure costs this candidate
            if rejection_of(exc) is not None:
                raise  # every other candidate would be rejected the same way: the job fails
            reason = f"{type(exc).__name__}: {exc}"
            transcript.add("candidate_failed", candidate=k, reason=reason)
            result.candidate_failures.append(FailureRecord(
                id=f"{job.conv_id}-k{k}", index=job.index, scenario=scenario.name, stage="conversation",
                reason=reason, usage={}, timing=Timing(started_at=started_at, wall_seconds=0.0, llm_seconds=0.0)))
            continue
        candidates[k] = turns
        view = CandidateView(experience=experience, turns=turns)
        reviews.append(await panel.review(k, view, clients=critic_client, transcript=transcript, seed=seed))
    decision = panel.decide(reviews)
    transcript.add("panel_decision", winner=decision.winner, votes=decision.votes,
                   reasons=decision.reasons, rejected_by=decision.rejected_by, tie_break=decision.tie_break)
    n = len(candidates)
    for review in reviews:
        if review.candidate == decision.winner:
            continue
        result.rejected.append(RejectedRecord(
            id=f"{job.conv_id}-k{review.candidate}", experience_id=job.conv_id, index=job.index,
            scenario=scenario.name, experience=experience,
            turns=candidates[review.candidate],
            review=_review(job.iteration, review.candidate, n, review, decision),
            transcript=transcript_name(job.conv_id),
        ))
    if decision.winner is None:
        if not reviews:
            return "every candidate failed to generate"
        return "no candidate passed the critic panel: " + "; ".join(
            f"k{k}: {why}" for k, why in sorted(decision.reasons.items()))
    winner = next(r for r in reviews if r.candidate == decision.winner)
    return candidates[decision.winner], _review(job.iteration, decision.winner, n, winner, decision)


def _review(iteration: int, k: int, n: int, review: CandidateReview, decision: PanelDecision) -> Review:
    won = decision.winner == k
    return Review(
        iteration=iteration, candidate=k, candidates=n, decision="accepted" if won else "rejected",
        reason=decision.reasons.get(k, ""), rejected_by=decision.rejected_by.get(k, []),
        votes=decision.votes.get(k, 0), mean_quality=review.mean_quality, verdicts=review.verdicts,
    )
