"""The driver: plans jobs, dispatches them to an executor, consumes their results as they
complete and alone writes the run directory.

Plain runs keep `concurrency` jobs in flight until N conversations are written (a failed one is
replaced by a new index, up to the failure budget); Generator-Critic runs plan iterations
(orchestrator/critics/iterations.py) and dispatch each iteration's jobs. Shots are sampled and the
few-shot hub grows here, never in a job. `--resume` reads the run directory in one place
(orchestrator/store/resume.py) and continues with the same indices, seeds and shots. A run whose
last conversations all failed on the same rejected request stops (EndpointError, exit 2) instead
of spending its failure budget on a request the endpoint will never accept.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from agents.errors import EndpointError, UserError
from orchestrator.critics.iterations import GeneratorCritic
from orchestrator.executors.base import Executor
from orchestrator.job import ConversationJob, JobResult, RunContext, plan_job
from orchestrator.prepare import GENERATION_ROLES, PreparedRun
from orchestrator.stages.fewshot_hub import Shot
from orchestrator.store.resume import RestoredRun, restore
from orchestrator.store.usage import RoleUsage, add_usage
from orchestrator.store.writer import RunStore

__all__ = ["Progress", "RunSummary", "execute_run", "make_executor"]

# This many jobs in a row failing on the same rejected request stop the run: a deterministic error
# repeats for every conversation, and one clear line beats spending the failure budget on it.
REJECTION_STOP_AFTER = 3
PACKAGES = ("autogen-agentchat", "autogen-core", "autogen-ext", "llama-cpp-python", "pydantic", "openai", "ray")


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
    executor: dict[str, Any] = field(default_factory=dict)
    target: int = 0  # conversations asked for (accepted ones, with critics)
    set_aside: list[str] = field(default_factory=list)  # invalid lines --resume moved aside, and where

    @property
    def missing(self) -> int:
        """Conversations the run ended without: a run that ends short of its target is not a success."""
        return max(0, self.target - self.written)

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


def repeated_rejection(recent: Sequence[str | None], times: int) -> str | None:
    """The rejected request that failed each of the last `times` jobs when it is the same one for
    all of them; None after a success, any other failure, or fewer jobs."""
    last = list(recent)[-times:]
    if len(last) < times or last[0] is None or any(r != last[0] for r in last):
        return None
    return last[0]


class _IndexPlan:
    """Which conversation index a plain run starts next, so it ends with exactly N written.

    A failed conversation is replaced by a new index (up to the failure budget); nothing new
    starts while written + in flight already reaches the target, because an in-flight job may
    still fail. Indices (and so per-index seeds) are never reused: a resumed run first runs the
    indices that were in flight when it stopped."""

    def __init__(self, target: int, *, written: list[int], failed: list[int], max_failures: int) -> None:
        self.target, self.max_failures = target, max_failures
        self.written, self.failed = len(set(written)), len(set(failed))
        self.completed = set(written) | set(failed)
        top = max(self.completed, default=-1)
        self.pending = [i for i in range(top + 1) if i not in self.completed]
        self.next = top + 1
        self.in_flight: set[int] = set()

    def finished(self) -> bool:
        return self.written >= self.target or self.failed >= self.max_failures

    def claim(self) -> int | None:
        if self.finished() or self.written + len(self.in_flight) >= self.target:
            return None
        if self.pending:
            index = self.pending.pop(0)
        else:
            index, self.next = self.next, self.next + 1
        self.in_flight.add(index)
        return index

    def finish(self, index: int, *, written: bool) -> None:
        self.in_flight.discard(index)
        self.completed.add(index)
        if written:
            self.written += 1
        else:
            self.failed += 1


class Driver:
    HUB_SAVE_SECONDS = 2.0

    def __init__(self, prepared: PreparedRun, store: RunStore, executor: Executor,
                 on_progress: Callable[[Progress], None]) -> None:
        self.p = prepared
        self.req = prepared.request
        self.store = store
        self.executor = executor
        self.on_progress = on_progress
        self.progress = Progress(total=self.req.num_conversations)
        self.usage: dict[str, RoleUsage] = {}
        self.failure_reasons: list[str] = []
        self.batch_shots: dict[int, list[Shot]] = dict(prepared.batches)
        self._hub_saved, self._hub_dirty = -1e9, False
        prompt_versions = {name: t.digest for name, t in prepared.prompts.items()}
        models_by_role: dict[str, str] = {role: prepared.models.describe(role) for role in GENERATION_ROLES}
        self.critic: GeneratorCritic | None = None
        if prepared.panel is not None and self.req.scenario.critics is not None:
            self.critic = GeneratorCritic(self.req.scenario.critics, target=self.req.num_conversations)
            prompt_versions.update({n: t.digest for n, t in prepared.panel.templates.items()})
            models_by_role["critic"] = prepared.models.describe("critic")
        self.context = RunContext(scenario=self.req.scenario, prompts=dict(prepared.prompts),
                                  prompt_versions=prompt_versions, models_by_role=models_by_role,
                                  panel=prepared.panel)
        self._reserved: dict[int, int] = {}  # Generator-Critic: candidates reserved per job in flight
        self._rejections: deque[str | None] = deque(maxlen=REJECTION_STOP_AFTER)  # newest jobs' rejected requests

    # ------------------------------------------------------------------ writing (the only writer)
    def _account(self, result: JobResult) -> None:
        add_usage(self.usage, result.usage)
        self.progress.tokens += result.tokens
        self.progress.cost_usd += sum(u.cost_usd for u in result.usage.values())
        self.progress.cached_calls += sum(u.cached_calls for u in result.usage.values())

    def _write(self, result: JobResult) -> None:
        self.store.write_transcript(result.conv_id, result.transcript)
        for rejected in result.rejected:
            self.store.append_rejected(rejected)
        for failure in result.candidate_failures:
            self.store.append_failure(failure)
            self.failure_reasons.append(f"{failure.id} (candidate): {failure.reason}")
        if result.record is not None:
            self.store.append_conversation(result.record)
            self.progress.done += 1
        else:
            assert result.failure is not None
            self.store.append_failure(result.failure)
            self.failure_reasons.append(f"{result.conv_id} ({result.failure.stage}): {result.failure.reason}")
            self.progress.failed += 1
        self._account(result)
        self.on_progress(self.progress)
        self._rejections.append(None if result.written else result.rejected_request)
        times = min(REJECTION_STOP_AFTER, self.req.failure_budget)
        rejection = repeated_rejection(self._rejections, times)
        if rejection is not None:
            raise EndpointError(f"{rejection}; the last {times} conversations all failed on it, so the run stops "
                                f"(see {self.req.out_dir / 'failures.jsonl'})")

    def save_hub(self, *, force: bool = True) -> None:
        """Rewrite hub.json. New experiences alone are saved at most every HUB_SAVE_SECONDS:
        the rewrite grows with the hub, and a resumed run re-adds experiences of written
        records anyway. Batch choices and the RNG state are always saved at once."""
        now = time.perf_counter()
        if not force and now - self._hub_saved < self.HUB_SAVE_SECONDS:
            self._hub_dirty = True
            return
        self._hub_saved, self._hub_dirty = now, False
        # the shots themselves: a batch's shot may have left the (bounded) hub meanwhile
        batches = {str(b): [s.as_dict() for s in shots] for b, shots in self.batch_shots.items()}
        self.store.save_hub({**self.p.hub.state(), **({"batches": batches} if batches else {})})

    # ------------------------------------------------------------------ planning
    def _job(self, index: int, shots: list[Shot], *, iteration: int = 0, candidates: int = 0) -> ConversationJob:
        return plan_job(index, scenario=self.req.scenario, run_seed=self.req.seed, shots=shots, names=self.p.names,
                        personas=self.p.personas, iteration=iteration, candidates=candidates)

    def _batch_shots(self, index: int) -> list[Shot]:
        batch = index // self.req.scenario.few_shot.experiences_per_shot
        if batch not in self.batch_shots:
            self.batch_shots[batch] = self.p.hub.sample()
            self.save_hub()  # a resumed run must prompt this batch with the same shots
        return self.batch_shots[batch]

    def _forget_finished_batch(self, index: int, completed: set[int]) -> None:
        """Once every index of a batch completed, its shots are never needed again: memory and
        hub.json stay flat however long the run is."""
        size = self.req.scenario.few_shot.experiences_per_shot
        batch = index // size
        if batch in self.batch_shots and all(i in completed for i in range(batch * size, (batch + 1) * size)):
            del self.batch_shots[batch]

    async def _pump(self, next_job: Callable[[], ConversationJob | None],
                    consume: Callable[[JobResult], None]) -> None:
        """Keep the executor full with next_job() until it has nothing to start and nothing is
        in flight; every result is written before the next job is planned."""
        while True:
            while self.executor.in_flight < self.executor.capacity:
                job = next_job()
                if job is None:
                    break
                self.executor.submit(job)
            if self.executor.in_flight == 0:
                return
            consume(await self.executor.next_result())

    async def run_plain(self, restored: RestoredRun) -> None:
        plan = _IndexPlan(self.req.num_conversations, written=restored.written, failed=restored.failed,
                          max_failures=self.req.failure_budget)

        def next_job() -> ConversationJob | None:
            index = plan.claim()
            return None if index is None else self._job(index, self._batch_shots(index))

        def consume(result: JobResult) -> None:
            if result.index in plan.completed:  # never written twice, whatever an executor returns
                return
            self._write(result)
            plan.finish(result.index, written=result.written)
            self._forget_finished_batch(result.index, plan.completed)
            if result.record is not None and self.p.hub.add(f"exp-{result.conv_id}", result.record.experience):
                self.save_hub(force=False)

        await self._pump(next_job, consume)

    async def run_generator_critic(self, restored: RestoredRun) -> None:
        critic = self.critic
        assert critic is not None
        critic.restore(restored.report)
        while (iteration := critic.next_iteration(self.progress.tokens, self.usage)) is not None:
            # the hub as this iteration found it, then its shots in index order: a resumed run
            # restores that state and draws the same shots
            self.store.save_hub(self.p.hub.state())
            prefer = critic.prefer(iteration)
            shots = {index: self.p.hub.sample(prefer=prefer) for index in iteration.indices}
            queue = []
            for index in iteration.indices:
                if index in restored.decided:  # decided before the interruption: its records stand
                    critic.consume(restored.decided.pop(index))
                else:
                    queue.append(index)
            queue.reverse()

            def next_job(queue: list[int] = queue, number: int = iteration.number,
                         shots: dict[int, list[Shot]] = shots) -> ConversationJob | None:
                while queue:
                    k = critic.reserve(self.progress.tokens)
                    if k == 0:
                        return None  # a budget is spent: this iteration starts nothing more
                    index = queue.pop()
                    self._reserved[index] = k
                    return self._job(index, shots[index], iteration=number, candidates=k)
                return None

            def consume(result: JobResult) -> None:
                self._write(result)
                critic.consume(result, reserved=self._reserved.pop(result.index, 0))

            await self._pump(next_job, consume)
            added = []
            for conv_id, experience in iteration.accepted:
                if self.p.hub.add(f"acc-{conv_id}", experience, origin="accepted"):
                    added.append(f"acc-{conv_id}")
            if added:
                self.store.save_hub(self.p.hub.state())
            critic.close_iteration(self.usage, hub_added=added, hub_mode=self.p.hub.mode)
            self.store.write_iterations(critic.report)

    # ------------------------------------------------------------------ the manifest
    def manifest(self, status: str, seconds: float) -> dict[str, Any]:
        req = self.req
        return {
            "status": status,
            "scenario": req.scenario.model_dump(),
            "scenario_file": str(req.scenario_path),
            "few_shot_mode": self.p.hub.mode,
            "models": req.models.model_dump(),  # names env variables, never their values
            "models_file": str(req.models_path),
            "model_by_role": self.context.models_by_role,
            "structured_output": self.p.models.structured_modes,  # per remote backend, as the preflight chose
            "seed": req.seed,
            "num_conversations_requested": req.num_conversations,
            "concurrency": req.concurrency,
            "executor": {"name": req.executor, "workers": req.workers, "ray_address": req.ray_address},
            "max_failures": req.failure_budget,
            "command_line": list(req.command_line),
            "packages": _package_versions(),
            "prompt_versions": self.context.prompt_versions,
            "counts": {"written": self.progress.done, "failed": self.progress.failed, "hub_size": len(self.p.hub),
                       "missing": max(0, req.num_conversations - self.progress.done)},
            "set_aside": self.store.set_aside,
            "failures": self.failure_reasons,
            "generator_critic": None if self.critic is None else self.critic.manifest(),
            "usage": {role: u.model_dump() for role, u in sorted(self.usage.items())},
            "cost_usd": round(sum(u.cost_usd for u in self.usage.values()), 6),
            "seconds": round(seconds, 3),
        }


def make_executor(prepared: PreparedRun) -> Executor:
    req = prepared.request
    if req.executor == "ray":
        from orchestrator.executors.ray import RayExecutor

        # the preflight's choices travel with the configuration: workers run no preflight
        return RayExecutor(prepared.models.resolved_config(), req.models_path, seed=req.seed, workers=req.workers,
                           concurrency=req.concurrency, address=req.ray_address)
    from orchestrator.executors.local import LocalExecutor

    return LocalExecutor(prepared.models, concurrency=req.concurrency)


async def execute_run(prepared: PreparedRun, on_progress: Callable[[Progress], None] = lambda p: None,
                      executor: Executor | None = None) -> RunSummary:
    req = prepared.request
    store = RunStore.open(req.out_dir) if req.resume else RunStore.create(req.out_dir)
    executor = executor or make_executor(prepared)
    driver = Driver(prepared, store, executor, on_progress)
    restored = (restore(store, generator_critic=driver.critic is not None, retry_failed=req.retry_failed)
                if req.resume else RestoredRun())
    add_usage(driver.usage, restored.usage)
    driver.failure_reasons.extend(restored.failure_reasons)
    if driver.critic is None:  # experiences whose hub save was still pending at the crash
        for conv_id, experience in restored.experiences[prepared.hub.offered["generated"]:]:
            prepared.hub.add(f"exp-{conv_id}", experience)
    driver.progress.done, driver.progress.failed = len(restored.written), len(restored.failed)
    driver.progress.tokens = restored.tokens
    driver.progress.cost_usd = sum(u.cost_usd for u in restored.usage.values())
    started = time.perf_counter()
    store.write_manifest(driver.manifest("running", 0.0))
    if driver.critic is None:
        driver.save_hub()
    status = "interrupted"
    stats: dict[str, Any] = {}
    try:
        await executor.start(driver.context)
        if driver.critic is not None:
            await driver.run_generator_critic(restored)
        else:
            await driver.run_plain(restored)
        status = "complete"
    except UserError:
        status = "stopped"
        raise
    finally:
        seconds = time.perf_counter() - started
        if driver._hub_dirty:
            driver.save_hub()
        try:
            await executor.close()
        finally:
            stats = executor.stats()
            manifest = driver.manifest(status, seconds)
            manifest["endpoints"] = stats.get("endpoints", {})
            manifest["executor"].update({k: v for k, v in stats.items() if k not in ("endpoints", "llm_busy_seconds")})
            store.write_manifest(manifest)
    critic = driver.critic
    return RunSummary(
        out_dir=req.out_dir, written=driver.progress.done, failed=driver.progress.failed, seconds=seconds,
        usage={role: u.model_dump() for role, u in sorted(driver.usage.items())},
        llm_busy_seconds=stats.get("llm_busy_seconds", 0.0), failure_reasons=driver.failure_reasons,
        stop_reason=critic.stop_reason if critic else "", rejected=critic.rejected_candidates if critic else 0,
        iterations=critic.report if critic else [], endpoints=stats.get("endpoints", {}),
        executor=manifest["executor"], target=req.num_conversations, set_aside=list(store.set_aside),
    )
