"""Scale-out on Ray: `workers` actors, each with its own model clients (an embedded backend loads
its own copy of the model in every actor) and up to `concurrency` jobs in flight.

The driver stays the only writer: actors receive jobs and return results, nothing else. With no
address a local Ray cluster is started for the run; with `ray_address` (e.g. `auto` on a node of
a cluster started with `ray start --head`) the run joins that cluster. The project's packages
travel to the workers as Ray `py_modules`, so nodes need the same installed dependencies, not a
checkout. An actor that dies is replaced and its unfinished jobs are dispatched again: a job is
finished only once the driver received (and wrote) its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from agents.errors import UserError
from orchestrator.config import ModelsConfig
from orchestrator.job import ConversationJob, JobResult, RunContext


class JobWorker:
    """The Ray actor: builds its own ModelHub and runs jobs on it."""

    def __init__(self, context: RunContext, models: ModelsConfig, models_path: str, seed: int) -> None:
        from orchestrator.models.hub import ModelHub

        self.context = context
        self.models = ModelHub(models, Path(models_path), seed=seed)

    async def run(self, job: ConversationJob) -> JobResult:
        from orchestrator.job import run_job

        return await run_job(job, self.context, self.models)

    async def stats(self) -> dict[str, Any]:
        import os
        import resource
        import time

        engines = self.models.local_engines()
        return {"endpoints": self.models.endpoint_stats(), "llm_busy_seconds": sum(e.busy_seconds for e in engines),
                "pid": os.getpid(), "cpu_seconds": round(time.process_time(), 3),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}

    async def close(self) -> None:
        await self.models.close()


def runtime_env() -> dict[str, Any]:
    """What every Ray worker of a run needs: the packages a job uses (agents/, orchestrator/;
    shipped by Ray, so a node needs the dependencies installed, not a checkout) and offline
    model loading."""
    import agents
    import orchestrator

    return {"py_modules": [agents, orchestrator], "env_vars": {"HF_HUB_OFFLINE": "1"}}


_actor_class: Any = None


def _job_worker_actor() -> Any:
    global _actor_class
    if _actor_class is None:
        import ray

        _actor_class = ray.remote(JobWorker)
    return _actor_class


class RayExecutor:
    name = "ray"

    def __init__(self, models: ModelsConfig, models_path: Path, *, seed: int, workers: int, concurrency: int,
                 address: str | None = None) -> None:
        self.models, self.models_path, self.seed = models, models_path, seed
        self.workers = max(1, workers)
        self.concurrency = max(1, concurrency)
        self.capacity = self.workers * self.concurrency
        self.address = address
        self.actors: list[Any] = []  # one handle per worker slot (replaced when an actor dies)
        self.replaced = 0  # actors that died and were replaced
        self.redispatched = 0  # jobs run again because their actor died
        self.max_replacements = 3 * self.workers
        self._load: list[int] = []
        self.jobs_by_worker: dict[int, int] = {}  # results returned per worker slot
        self._tasks: dict[asyncio.Task[JobResult | None], tuple[ConversationJob, int]] = {}
        self._done: asyncio.Queue[asyncio.Task[JobResult | None]] = asyncio.Queue()
        self._context_ref: Any = None
        self._started_ray = False
        self._stats: dict[str, Any] = {"endpoints": {}, "llm_busy_seconds": 0.0}

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def start(self, context: RunContext) -> None:
        started = time.perf_counter()
        try:
            import ray
        except ImportError:  # pragma: no cover - ray is a pinned dependency
            raise UserError("--executor ray: the 'ray' package is not installed (pip install ray==2.60.0)") from None
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         runtime_env=runtime_env(), configure_logging=False)
            except ConnectionError as exc:
                raise UserError(f"--ray-address: cannot join the Ray cluster at {self.address} ({exc})") from None
            self._started_ray = True
        self._context_ref = ray.put(context)
        self.actors = [self._new_actor() for _ in range(self.workers)]
        self._load = [0] * self.workers
        await asyncio.gather(*(actor.__ray_ready__.remote() for actor in self.actors))
        # a fixed cost of the run, whatever its size: reported apart from the run's wall time
        self._stats["start_seconds"] = round(time.perf_counter() - started, 2)

    def _new_actor(self) -> Any:
        # I/O-bound jobs: an actor reserves no CPU, so more actors than cores can be scheduled;
        # SPREAD places them over the cluster's nodes
        return _job_worker_actor().options(max_concurrency=self.concurrency, num_cpus=0, scheduling_strategy="SPREAD",
                                   max_restarts=0).remote(
            self._context_ref, self.models, str(self.models_path), self.seed)

    def submit(self, job: ConversationJob) -> None:
        slot = min(range(self.workers), key=self._load.__getitem__)
        self._load[slot] += 1
        task = asyncio.ensure_future(self._run(job, slot, self.actors[slot]))
        self._tasks[task] = (job, slot)
        task.add_done_callback(self._done.put_nowait)

    async def _run(self, job: ConversationJob, slot: int, actor: Any) -> JobResult | None:
        import ray

        try:
            return await actor.run.remote(job)
        except ray.exceptions.RayTaskError as exc:  # raised inside the job: a user error stops the run
            raise exc.as_instanceof_cause() from None
        except ray.exceptions.RayActorError as exc:
            if self.actors[slot] is actor:  # the first of its jobs to notice: replace the actor
                if self.replaced >= self.max_replacements:  # not a lost node: the actors cannot live
                    raise RuntimeError(f"Ray actors died {self.replaced + 1} times; the last: {exc}") from None
                self.replaced += 1
                self.actors[slot] = self._new_actor()
            return None

    async def next_result(self) -> JobResult:
        while True:
            task = await self._done.get()
            job, slot = self._tasks.pop(task)
            self._load[slot] -= 1
            result = task.result()
            if result is not None:
                self.jobs_by_worker[slot] = self.jobs_by_worker.get(slot, 0) + 1
                return result
            self.redispatched += 1  # its actor died: run the job again on a live one
            self.submit(job)

    def stats(self) -> dict[str, Any]:
        return {**self._stats, "workers": self.workers, "actors_replaced": self.replaced,
                "jobs_redispatched": self.redispatched,
                "jobs_by_worker": {str(k): v for k, v in sorted(self.jobs_by_worker.items())}}

    async def close(self) -> None:
        import ray

        for task in self._tasks:
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        for slot, actor in enumerate(self.actors):
            with contextlib.suppress(Exception):
                stats = await asyncio.wait_for(actor.stats.remote(), timeout=10)
                self._merge_stats(stats)
                self._stats.setdefault("actors", {})[str(slot)] = {
                    k: stats[k] for k in ("pid", "cpu_seconds", "peak_rss_mib")}
                await asyncio.wait_for(actor.close.remote(), timeout=10)
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self.actors = []
        if self._started_ray:
            ray.shutdown()

    def _merge_stats(self, stats: dict[str, Any]) -> None:
        self._stats["llm_busy_seconds"] += stats.get("llm_busy_seconds", 0.0)
        for name, entry in stats.get("endpoints", {}).items():
            mine = self._stats["endpoints"].setdefault(name, {"retried": {}, "gave_up": 0, "throttle_cuts": 0,
                                                              "limit": 0})
            for kind, count in entry["retried"].items():
                mine["retried"][kind] = mine["retried"].get(kind, 0) + count
            mine["gave_up"] += entry["gave_up"]
            mine["throttle_cuts"] += entry["throttle_cuts"]
            mine["limit"] += entry["limit"]
