"""What the driver needs from an executor: run jobs, hand back results as they complete."""

from __future__ import annotations

from typing import Any, Protocol

from orchestrator.job import ConversationJob, JobResult, RunContext


class Executor(Protocol):
    """Runs `ConversationJob`s somewhere and returns their `JobResult`s in completion order.

    The driver keeps at most `capacity` jobs in flight. A job counts as finished only once its
    result was returned by `next_result` (and written by the driver): an executor that loses a
    worker runs that worker's unfinished jobs again elsewhere.
    """

    name: str
    capacity: int

    @property
    def in_flight(self) -> int: ...

    async def start(self, context: RunContext) -> None: ...

    def submit(self, job: ConversationJob) -> None: ...

    async def next_result(self) -> JobResult: ...

    def stats(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...
