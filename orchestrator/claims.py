"""Which conversation index to produce next, so the run ends with exactly the requested count.

A failed conversation is replaced by a new index (up to a failure budget); a claim is refused
while written + in flight already reaches the target (the caller waits, because an in-flight
conversation may still fail). Indices, and so per-index seeds, are never reused: a resumed run
first regenerates the indices that were in flight when it stopped.

`LocalClaims` serves one process. `RedisClaims` serves several workers on several machines
through one Redis: claiming is one atomic Lua script, so no two workers produce the same index.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

WAIT = -1  # claim(): nothing to start now, an in-flight conversation may still fail
STOP = None  # claim(): target reached or failure budget spent


class LocalClaims:
    def __init__(self, target: int, *, written: Iterable[int] = (), failed: Iterable[int] = (), max_failures: int) -> None:
        written_set, failed_set = set(written), set(failed)
        self.target = target
        self.max_failures = max_failures
        self.written = len(written_set)
        self.failed = len(failed_set)
        self._completed = written_set | failed_set
        top = max(self._completed, default=-1)
        # indices below the highest completed one that never completed were in flight at a crash
        self._pending = [i for i in range(top + 1) if i not in self._completed]
        self._next = top + 1
        self._in_flight: set[int] = set()
        self._changed: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    def finished(self) -> bool:
        return self.written >= self.target or self.failed >= self.max_failures

    async def claim(self) -> int | None:
        if self.finished():
            return STOP
        if self.written + len(self._in_flight) >= self.target:
            return WAIT
        if self._pending:
            index = self._pending.pop(0)
        else:
            index = self._next
            self._next += 1
        self._in_flight.add(index)
        return index

    async def finish(self, index: int, *, written: bool) -> None:
        self._in_flight.discard(index)
        self._completed.add(index)
        if written:
            self.written += 1
        else:
            self.failed += 1
        cond = self._condition()
        async with cond:
            cond.notify_all()

    async def wait(self) -> None:
        cond = self._condition()
        async with cond:
            await cond.wait()

    async def close(self) -> None:
        """Nothing to release."""


_CLAIM = """
local written = tonumber(redis.call('GET', KEYS[1]) or '0')
local failed = tonumber(redis.call('GET', KEYS[2]) or '0')
if written >= tonumber(ARGV[1]) or failed >= tonumber(ARGV[2]) then return -2 end
if written + redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[1]) then return -1 end
local index = redis.call('INCR', KEYS[4]) - 1
redis.call('HSET', KEYS[3], index, ARGV[3])
return index
"""

_FINISH = """
if redis.call('HDEL', KEYS[3], ARGV[1]) == 1 or redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 then
  redis.call('SADD', KEYS[4], ARGV[1])
  if ARGV[2] == '1' then redis.call('INCR', KEYS[1]) else redis.call('INCR', KEYS[2]) end
end
return 1
"""


class RedisClaims:
    """The claim board of run `run_id` in Redis, shared by every worker of that run."""

    POLL_SECONDS = 0.1

    def __init__(self, url: str, run_id: str, worker: str, target: int, *, max_failures: int,
                 completed: Iterable[int] = ()) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(url)
        self.worker = worker
        self.target = target
        self.max_failures = max_failures
        key = f"symposia:run:{run_id}"
        self._keys = [f"{key}:written", f"{key}:failed", f"{key}:in_flight", f"{key}:next"]
        self._done_key = f"{key}:done"
        self._claim = self.redis.register_script(_CLAIM)
        self._finish = self.redis.register_script(_FINISH)
        self._completed_here = set(completed)
        self._mine: list[int] | None = None  # this worker's claims left over from a crash
        # concurrent first claims must not each read the leftovers: one would re-take another's fresh claim
        self._leftovers_lock = asyncio.Lock()

    async def _leftovers(self) -> list[int]:
        claims = await self.redis.hgetall(self._keys[2])
        mine = sorted(int(i) for i, w in claims.items() if (w.decode() if isinstance(w, bytes) else w) == self.worker)
        for index in [i for i in mine if i in self._completed_here]:  # written, then crashed before finish
            await self.finish(index, written=True)
        return [i for i in mine if i not in self._completed_here]

    async def claim(self) -> int | None:
        async with self._leftovers_lock:
            if self._mine is None:
                self._mine = await self._leftovers()
        if self._mine:
            return self._mine.pop(0)
        result = int(await self._claim(keys=self._keys, args=[self.target, self.max_failures, self.worker]))
        return STOP if result == -2 else result

    async def finish(self, index: int, *, written: bool) -> None:
        keys = [self._keys[0], self._keys[1], self._keys[2], self._done_key]
        await self._finish(keys=keys, args=[index, "1" if written else "0"])

    async def wait(self) -> None:
        await asyncio.sleep(self.POLL_SECONDS)

    async def counts(self) -> tuple[int, int]:
        written, failed = await self.redis.mget(self._keys[0], self._keys[1])
        return int(written or 0), int(failed or 0)

    async def close(self) -> None:
        await self.redis.aclose()


async def produce(claims: LocalClaims | RedisClaims, conversation: Callable[[int], Awaitable[bool]],
                  concurrency: int) -> None:
    """`concurrency` workers claim indices and run conversations until the claims say stop."""

    async def worker() -> None:
        while True:
            index = await claims.claim()
            if index is STOP:
                return
            if index == WAIT:
                await claims.wait()
                continue
            # an exception (Ctrl-C, a user error) leaves the claim open: --resume redoes the index
            written = await conversation(index)
            await claims.finish(index, written=written)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
