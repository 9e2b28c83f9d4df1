"""Generate a dataset: experiences → persona group chats → records in a run directory.

`prepare_run` (orchestrator/run_setup.py) loads and checks everything a run needs so user
mistakes surface before the first model call; `execute_run` produces the conversations.
A model failure costs one conversation (recorded in failures.jsonl), never the run.
"""

from __future__ import annotations

import asyncio
import random
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from agents.schemas import speaker_slug
from orchestrator.claims import LocalClaims, RedisClaims, produce
from orchestrator.conversation import ConversationPrompts, run_group_chat
from orchestrator.errors import GenerationError, UserError
from orchestrator.experience_stage import generate_experience
from orchestrator.generator_critic import GeneratorCritic, Slot
from orchestrator.persona_sources import describe_draw, framed_request
from orchestrator.records import ConversationRecord, FailureRecord, Provenance, Timing
from orchestrator.resume import RestoredRun, restore, restore_iterations
from orchestrator.run_setup import GENERATION_ROLES, PreparedRun, RunRequest, prepare_run
from orchestrator.run_store import RunStore
from orchestrator.shared_hub import RedisHubSync
from orchestrator.transcript import RoleUsage, Transcript

__all__ = ["PreparedRun", "Progress", "RunRequest", "RunSummary", "execute_run", "prepare_run"]

PACKAGES = ("autogen-agentchat", "autogen-core", "autogen-ext", "llama-cpp-python", "pydantic", "openai")


@dataclass
class Progress:
    done: int = 0
    failed: int = 0
    total: int = 0
    tokens: int = 0
    cached_calls: int = 0
    cost_usd: float = 0.0


@dataclass
class RunSummary:
    out_dir: Path
    written: int
    failed: int
    seconds: float
    usage: dict[str, dict[str, Any]]
    llm_busy_seconds: float
    failure_reasons: list[str] = field(default_factory=list)
    # Generator-Critic runs: why generation stopped, rejected candidates, per-iteration report.
    stop_reason: str = ""
    rejected: int = 0
    iterations: list[dict[str, Any]] = field(default_factory=list)
    endpoints: dict[str, Any] = field(default_factory=dict)  # retries and throttling per backend

    @property
    def total_tokens(self) -> int:
        return sum(u["prompt_tokens"] + u["completion_tokens"] for u in self.usage.values())

    @property
    def cost_usd(self) -> float:
        return sum(u.get("cost_usd", 0.0) for u in self.usage.values())


def _package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


class _Run:
    def __init__(self, prepared: PreparedRun, store: RunStore, on_progress: Callable[[Progress], None]) -> None:
        self.p = prepared
        self.req = prepared.request
        self.store = store
        self.on_progress = on_progress
        self.progress = Progress(total=self.req.num_conversations)
        self.usage: dict[str, RoleUsage] = {}
        self.failure_reasons: list[str] = []
        by_id = {s.id: s for s in prepared.hub.shots}
        self.batch_shots: dict[int, list[Any]] = {
            b: [by_id[i] for i in ids if i in by_id] for b, ids in prepared.batches.items()
        }
        self.written_indices: set[int] = set()
        self._hub_saved, self._hub_dirty = -1e9, False
        self.shared: RedisHubSync | None = None
        if self.req.redis_url:
            self.shared = RedisHubSync(self.req.redis_url, self.req.run_id or "default")
        self.prompt_versions = {name: t.digest for name, t in prepared.prompts.items()}
        self.models = {role: prepared.models.describe(role) for role in GENERATION_ROLES}
        self.critic: GeneratorCritic | None = None
        if prepared.panel is not None and self.req.scenario.critics is not None:
            self.critic = GeneratorCritic(self.req.scenario.critics, prepared.panel, target=self.req.num_conversations)
            self.prompt_versions.update({n: t.digest for n, t in prepared.panel.templates.items()})
            self.models["critic"] = prepared.models.describe("critic")

    def shots_for(self, index: int) -> list[Any]:
        if self.critic is not None:
            return self.critic.shots_for(self, index)
        batch = index // self.req.scenario.few_shot.experiences_per_shot
        if batch not in self.batch_shots:
            if self.shared is not None:
                self.batch_shots[batch] = self.shared.batch(batch, self.p.hub, self.p.hub.sample)
            else:
                self.batch_shots[batch] = self.p.hub.sample()
            self.save_hub()  # a resumed run must prompt this batch with the same shots
        return self.batch_shots[batch]

    HUB_SAVE_SECONDS = 2.0

    def save_hub(self, *, force: bool = True) -> None:
        """Rewrite hub.json. New experiences alone are saved at most every HUB_SAVE_SECONDS:
        the rewrite grows with the hub, and a resumed run re-adds experiences of written
        records anyway. Batch choices and the RNG state are always saved at once."""
        now = time.perf_counter()
        if not force and now - self._hub_saved < self.HUB_SAVE_SECONDS:
            self._hub_dirty = True
            return
        self._hub_saved, self._hub_dirty = now, False
        batches = {str(b): [s.id for s in shots] for b, shots in self.batch_shots.items()}
        self.store.save_hub({**self.p.hub.state(), "batches": batches})

    async def produce(self, index: int) -> bool:
        """One conversation; whether it was written (False: recorded as failed)."""
        await self.conversation(index)
        await self.store.drain()  # its record is on disk before the claim is finished
        return index in self.written_indices

    def _account(self, transcript: Transcript) -> dict[str, Any]:
        for role, usage in transcript.usage.items():
            self.usage.setdefault(role, RoleUsage()).merge(usage)
        self.progress.tokens += transcript.total_tokens
        self.progress.cost_usd += transcript.cost_usd
        self.progress.cached_calls += sum(u.cached_calls for u in transcript.usage.values())
        return transcript.usage_dict()

    async def conversation(self, index: int) -> None:
        scenario = self.req.scenario
        conv_id = f"c{index:06d}"
        seed = self.req.seed * 1_000_003 + index
        rng = random.Random(seed)
        num_participants = rng.randint(scenario.participants.min, scenario.participants.max)
        num_turns = rng.randint(scenario.turns.min, scenario.turns.max)
        names = rng.sample(self.p.names, num_participants) if self.p.names else []
        sources = self.p.personas
        people = sources.draw(index, sources.group_size(index) or num_participants) if sources else None
        if people is not None:
            num_participants = len(people)
        transcript = Transcript()
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        t0 = time.perf_counter()
        shots = self.shots_for(index)
        transcript.add("conversation_started", id=conv_id, seed=seed, shots=[s.id for s in shots],
                       num_participants=num_participants, num_turns=num_turns)
        framed = None
        if people is not None:
            transcript.add("personas_drawn", source=scenario.personas.source, personas=describe_draw(people))
            framed = framed_request(people, self.p.prompts["experience_generator"], shots=[s.experience for s in shots],
                                    pin=self.p.models.has_grammar("experience_generator"))
        stage = "experience"
        try:
            experience = await generate_experience(
                self.p.models, self.p.prompts["experience_generator"], shots=[s.experience for s in shots],
                num_participants=num_participants, transcript=transcript, seed=seed,
                max_attempts=scenario.experience_attempts, names=names, framed=framed,
            )
            # Under the Generator-Critic only accepted experiences join the hub (after each iteration).
            if self.critic is None and self.p.hub.add(f"exp-{conv_id}", experience):
                if self.shared is not None:
                    self.shared.push(f"exp-{conv_id}", experience)
                self.save_hub(force=False)
            stage = "conversation"
            review = None
            if self.critic is not None:  # K candidates, critic panel, best passing one or none
                outcome = await self.critic.review_experience(self, Slot(
                    index=index, conv_id=conv_id, seed=seed, num_turns=num_turns, experience=experience,
                    shots=shots, transcript=transcript, started_at=started_at, t0=t0,
                ))
                if outcome is None:
                    return
                turns, review = outcome
            else:
                turns = await run_group_chat(
                    experience, scenario=scenario,
                    prompts=ConversationPrompts(self.p.prompts["persona"], self.p.prompts["group_chat"]),
                    models=self.p.models, num_turns=num_turns, transcript=transcript, seed=seed,
                )
        except (UserError, asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a model failure costs this conversation, not the run
            attempts = exc.attempts if isinstance(exc, GenerationError) else []
            reason = f"{type(exc).__name__}: {exc}"
            transcript.add("conversation_failed", stage=stage, reason=reason)
            self.store.write_transcript(conv_id, transcript.events)
            self.store.append_failure(FailureRecord(
                id=conv_id, index=index, scenario=scenario.name, stage=stage, reason=reason, attempts=attempts,
                usage=self._account(transcript),
                timing=Timing(started_at=started_at, wall_seconds=round(time.perf_counter() - t0, 3),
                              llm_seconds=round(transcript.llm_seconds, 3)),
            ))
            self.failure_reasons.append(f"{conv_id} ({stage}): {reason}")
            self.progress.failed += 1
            self.on_progress(self.progress)
            return
        rejections = [e for e in transcript.events if e["event"] == "experience_rejected"]
        self.store.write_transcript(conv_id, transcript.events)
        record = ConversationRecord(
            id=conv_id, index=index, scenario=scenario.name, experience=experience,
            participants=[p.name for p in experience.participants],
            speaker_ids={speaker_slug(p.name): p.name for p in experience.participants},
            turns=[t.as_dict() for t in turns],
            usage=self._account(transcript),
            timing=Timing(started_at=started_at, wall_seconds=round(time.perf_counter() - t0, 3),
                          llm_seconds=round(transcript.llm_seconds, 3)),
            models=self.models,
            provenance=Provenance(
                seed=seed, shot_ids=[s.id for s in shots], prompt_versions=self.prompt_versions,
                num_turns_target=num_turns, experience_attempts=len(rejections) + 1,
                experience_rejections=[{"attempt": e["attempt"], "reason": e["reason"]} for e in rejections],
            ),
            review=review,
        )
        self.store.append_conversation(record)
        self.written_indices.add(index)
        self.progress.done += 1
        self.on_progress(self.progress)

    def manifest(self, status: str, seconds: float) -> dict[str, Any]:
        req = self.req
        return {
            "status": status,
            "scenario": req.scenario.model_dump(),
            "scenario_file": str(req.scenario_path),
            "few_shot_mode": self.p.hub.mode,
            "models": req.models.model_dump(),  # names env variables, never their values
            "models_file": str(req.models_path),
            "model_by_role": self.models,
            "seed": req.seed,
            "num_conversations_requested": req.num_conversations,
            "concurrency": req.concurrency,
            "max_failures": req.failure_budget,
            "scale_out": None if not req.redis_url else {
                "redis_url": req.redis_url, "run_id": req.run_id, "worker_id": req.worker_id},
            "command_line": list(req.command_line),
            "packages": _package_versions(),
            "prompt_versions": self.prompt_versions,
            "counts": {"written": self.progress.done, "failed": self.progress.failed, "hub_size": len(self.p.hub)},
            "failures": self.failure_reasons,
            "generator_critic": None if self.critic is None else {
                "stop_reason": self.critic.stop_reason, "accepted": self.critic.accepted,
                "rejected_candidates": self.critic.rejected_candidates, "attempts": self.critic.attempts,
                "max_candidates": self.critic.max_candidates, "max_tokens": self.critic.max_tokens,
                "iterations": self.critic.report,
            },
            "usage": {role: u.as_dict() for role, u in sorted(self.usage.items())},
            "cost_usd": round(sum(u.cost_usd for u in self.usage.values()), 6),
            "endpoints": _endpoint_stats(self.p.models),
            "seconds": round(seconds, 3),
        }


def _endpoint_stats(models: Any) -> dict[str, Any]:
    # test doubles of ModelHub have no remote backends to report on
    stats = getattr(models, "endpoint_stats", None)
    return stats() if stats is not None else {}


async def execute_run(prepared: PreparedRun, on_progress: Callable[[Progress], None] = lambda p: None) -> RunSummary:
    req = prepared.request
    store = RunStore.open(req.out_dir) if req.resume else RunStore.create(req.out_dir)
    run = _Run(prepared, store, on_progress)
    if req.resume and run.critic is not None:
        run.critic.restore(restore_iterations(store))  # first: it drops undecided experiences' records
    restored = restore(store, generator_critic=run.critic is not None) if req.resume else RestoredRun()
    for role, usage in restored.usage.items():
        run.usage.setdefault(role, RoleUsage()).merge(usage)
    run.failure_reasons.extend(restored.failure_reasons)
    if run.critic is None:  # experiences whose hub save was still pending at the crash
        for conv_id, experience in restored.experiences:
            prepared.hub.add(f"exp-{conv_id}", experience)
    run.progress.done, run.progress.failed = len(restored.written), len(restored.failed)
    run.progress.tokens = restored.tokens
    run.progress.cost_usd = sum(u.cost_usd for u in restored.usage.values())
    started = time.perf_counter()
    store.write_manifest(run.manifest("running", 0.0))
    run.save_hub()
    claims: LocalClaims | RedisClaims
    if req.redis_url:
        worker = req.worker_id or f"{socket.gethostname()}:{req.out_dir.resolve()}"
        claims = RedisClaims(req.redis_url, req.run_id or "default", worker, req.num_conversations,
                             max_failures=req.failure_budget, completed=restored.written + restored.failed)
    else:
        claims = LocalClaims(req.num_conversations, written=restored.written, failed=restored.failed,
                             max_failures=req.failure_budget)

    status = "interrupted"
    try:
        if run.critic is not None:
            await run.critic.run(run)
        else:
            await produce(claims, run.produce, req.concurrency)
        status = "complete"
    finally:
        seconds = time.perf_counter() - started
        if run._hub_dirty:
            run.save_hub()
        store.write_manifest(run.manifest(status, seconds))
        busy = sum(engine.busy_seconds for engine in prepared.models.local_engines())
        endpoints = _endpoint_stats(prepared.models)
        await claims.close()
        if run.shared is not None:
            run.shared.close()
        await prepared.models.close()
    return RunSummary(
        out_dir=req.out_dir, written=run.progress.done, failed=run.progress.failed, seconds=seconds,
        usage={role: u.as_dict() for role, u in sorted(run.usage.items())}, llm_busy_seconds=busy,
        failure_reasons=run.failure_reasons,
        stop_reason=run.critic.stop_reason if run.critic else "",
        rejected=run.critic.rejected_candidates if run.critic else 0,
        iterations=run.critic.report if run.critic else [],
        endpoints=endpoints,
    )


__all__ = ["GENERATION_ROLES", "RunRequest", "RunSummary", "execute_run", "prepare_run"]
