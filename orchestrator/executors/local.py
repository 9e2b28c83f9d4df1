"""The default executor: jobs run as asyncio tasks in this process, on one shared ModelHub
(the embedded engine stays serialised by its own lock)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from orchestrator.job import ConversationJob, JobResult, RunContext, run_job
from orchestrator.models.hub import ModelHub


class LocalExecutor:
    name = "local"

    def __init__(self, models: ModelHub, *, concurrency: int) -> None:
        self.models = models
        self.capacity = max(1, concurrency)
        self._context: RunContext | None = None
        self._tasks: set[asyncio.Task[JobResult]] = set()
        self._done: asyncio.Queue[asyncio.Task[JobResult]] = asyncio.Queue()
        self._final_stats: dict[str, Any] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def start(self, context: RunContext) -> None:
        self._context = context

    def submit(self, job: ConversationJob) -> None:
        assert self._context is not None, "start() first"
        task = asyncio.ensure_future(run_job(job, self._context, self.models))
        self._tasks.add(task)
        task.add_done_callback(self._done.put_nowait)

    async def next_result(self) -> JobResult:
        task = await self._done.get()
        self._tasks.discard(task)
        return task.result()  # a user error raised inside the job stops the run here

    def stats(self) -> dict[str, Any]:
        if self._final_stats is not None:  # closed: the clients are gone, their figures kept
            return self._final_stats
        engines = self.models.local_engines() if hasattr(self.models, "local_engines") else []
        endpoint_stats = getattr(self.models, "endpoint_stats", None)  # test doubles have none
        return {"endpoints": endpoint_stats() if endpoint_stats else {},
                "llm_busy_seconds": sum(e.busy_seconds for e in engines)}

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        self._final_stats = self.stats()
        await self.models.close()
