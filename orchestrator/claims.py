"""Which conversation index to produce next, so the run ends with exactly the requested count.

A failed conversation is replaced by a new index (up to a failure budget); a claim is refused
while written + in flight already reaches the target (the caller waits, because an in-flight
conversation may still fail). Indices, and so per-index seeds, are never reused: a resumed run
first regenerates the indices that were in flight when it stopped.

`LocalClaims` serves one process. `RedisClaims` serves several workers on several machines
through one Redis: claiming is one atomic Lua script, so no two workers produce the same index.
Claims are leased: a worker that stops renewing (it died) loses its claims to the others after
the lease time; a live worker's claims are never taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable

WAIT = -1  # claim(): nothing to start now, an in-flight conversation may still fail
STOP = None  # claim(): target reached or failure budget spent


class LocalClaims:
    def __init__(self, target: int, *, written: Iterable[int] = (), failed: Iterable[int] = (),
                 max_failures: int) -> None:
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
            # only a failure frees a slot for a replacement; a success changes nothing for the
            # waiters until the run is finished (waking all 256 of them per success was O(n^2))
            if self.finished():
                cond.notify_all()
            elif not written:
                cond.notify(1)

    async def wait(self) -> None:
        cond = self._condition()
        async with cond:
            await cond.wait()

    async def close(self) -> None:
        """Nothing to release."""


# Every claim carries a lease (a deadline in the `lease` sorted set, Redis server time, so the
# workers' clocks do not matter). A live worker renews its leases every third of the lease
# time; a claim whose lease expired belongs to a worker presumed dead and is taken over by the
# next claim of another worker, so a dead worker's indices are produced after all.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS written failed in_flight next lease done; ARGV target max_failures worker lease_ms
_CLAIM = _NOW + """
local written = tonumber(redis.call('GET', KEYS[1]) or '0')
local failed = tonumber(redis.call('GET', KEYS[2]) or '0')
if written >= tonumber(ARGV[1]) or failed >= tonumber(ARGV[2]) then return -2 end
for _, index in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 32)) do
  local owner = redis.call('HGET', KEYS[3], index)
  if not owner or redis.call('SISMEMBER', KEYS[6], index) == 1 then
    redis.call('ZREM', KEYS[5], index)  -- finished meanwhile: nothing left to take over
    redis.call('HDEL', KEYS[3], index)
  elseif owner ~= ARGV[3] then  -- never our own: a stalled coroutine of ours may still be on it
    redis.call('HSET', KEYS[3], index, ARGV[3])
    redis.call('ZADD', KEYS[5], now + tonumber(ARGV[4]), index)
    return tonumber(index)
  end
end
if written + redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[1]) then return -1 end
local index = redis.call('INCR', KEYS[4]) - 1
redis.call('HSET', KEYS[3], index, ARGV[3])
redis.call('ZADD', KEYS[5], now + tonumber(ARGV[4]), index)
return index
"""

# KEYS in_flight lease; ARGV worker lease_ms index...: renew our leases, return the lost ones
_RENEW = _NOW + """
local lost = {}
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[i])
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
"""

# KEYS written failed in_flight done lease; ARGV index written worker. The first finish of an
# index counts (a taken-over index may be finished twice); only the owner's claim is released.
_FINISH = """
if redis.call('HGET', KEYS[3], ARGV[1]) == ARGV[3] then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[5], ARGV[1])
end
if redis.call('SADD', KEYS[4], ARGV[1]) == 1 then
  if ARGV[2] == '1' then redis.call('INCR', KEYS[1]) else redis.call('INCR', KEYS[2]) end
end
return 1
"""


class RedisClaims:
    """The claim board of run `run_id` in Redis, shared by every worker of that run."""

    POLL_SECONDS = 0.1

    def __init__(self, url: str, run_id: str, worker: str, target: int, *, max_failures: int,
                 completed: Iterable[int] = (), lease_seconds: float = 60.0) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(url)
        self.worker = worker
        self.target = target
        self.max_failures = max_failures
        self.lease_seconds = lease_seconds
        key = f"symposia:run:{run_id}"
        self._keys = [f"{key}:written", f"{key}:failed", f"{key}:in_flight", f"{key}:next"]
        self._lease_key = f"{key}:lease"
        self._done_key = f"{key}:done"
        self._claim = self.redis.register_script(_CLAIM)
        self._renew = self.redis.register_script(_RENEW)
        self._finish = self.redis.register_script(_FINISH)
        self._completed_here = set(completed)
        self._mine: list[int] | None = None  # this worker's claims left over from a crash
        # concurrent first claims must not each read the leftovers: one would re-take another's fresh claim
        self._leftovers_lock = asyncio.Lock()
        self._held: set[int] = set()  # claims of this worker in progress: their leases are renewed
        self._heartbeat: asyncio.Task[None] | None = None
        self.lost_leases = 0  # claims another worker took over while this one still held them
        self._closing = False

    @property
    def _lease_ms(self) -> int:
        return max(1, int(self.lease_seconds * 1000))

    async def _renew_leases(self, indices: list[int]) -> set[int]:
        """Renew the leases of `indices`; the ones that are no longer ours."""
        if not indices:
            return set()
        lost = await self._renew(keys=[self._keys[2], self._lease_key], args=[self.worker, self._lease_ms, *indices])
        return {int(i) for i in lost}

    async def _beat(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                lost = await self._renew_leases(sorted(self._held))
            except Exception:  # Redis unreachable for a moment: the next beat tries again
                # (redis-py may turn a cancellation into a connection error: hence the flag)
                continue
            self.lost_leases += len(lost & self._held)

    async def _leftovers(self) -> list[int]:
        claims = await self.redis.hgetall(self._keys[2])
        mine = sorted(int(i) for i, w in claims.items() if (w.decode() if isinstance(w, bytes) else w) == self.worker)
        lost = await self._renew_leases(mine)  # ours again for a whole lease, unless taken over already
        mine = [i for i in mine if i not in lost]
        for index in [i for i in mine if i in self._completed_here]:  # written, then crashed before finish
            await self.finish(index, written=True)
        return [i for i in mine if i not in self._completed_here]

    async def claim(self) -> int | None:
        async with self._leftovers_lock:
            if self._mine is None:
                self._mine = await self._leftovers()
                self._heartbeat = asyncio.create_task(self._beat())
        if self._mine:
            index = self._mine.pop(0)
        else:
            keys = [*self._keys, self._lease_key, self._done_key]
            index = int(await self._claim(keys=keys, args=[self.target, self.max_failures, self.worker,
                                                             self._lease_ms]))
            if index == -2:
                return STOP
        if index >= 0:
            self._held.add(index)
        return index

    async def finish(self, index: int, *, written: bool) -> None:
        self._held.discard(index)
        keys = [self._keys[0], self._keys[1], self._keys[2], self._done_key, self._lease_key]
        await self._finish(keys=keys, args=[index, "1" if written else "0", self.worker])

    async def wait(self) -> None:
        await asyncio.sleep(self.POLL_SECONDS)

    async def counts(self) -> tuple[int, int]:
        written, failed = await self.redis.mget(self._keys[0], self._keys[1])
        return int(written or 0), int(failed or 0)

    async def close(self) -> None:
        """Stop renewing; claims still held (an interrupted run) expire and may be taken over,
        or are resumed by this worker if it comes back first."""
        self._closing = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat
            self._heartbeat = None
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
