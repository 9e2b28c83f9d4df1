"""Two workers share one real redis-server (started here on 127.0.0.1, random port, temp dir):
together they write exactly the requested count, no index twice, sharing hub and LLM cache."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sim_endpoint import models_yaml, running_endpoint

ROOT = Path(__file__).resolve().parent.parent
REDIS = shutil.which("redis-server")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(180),  # a hang (a client talking to the wrong server) fails instead of blocking CI
    pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (Debian package redis-server)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    import redis

    for _ in range(5):  # the free port may be taken between the probe and redis-server's bind
        port = _free_port()
        proc = subprocess.Popen([str(REDIS), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                                 "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        for _ in range(100):
            if proc.poll() is not None:
                break  # it could not bind: whatever answers on that port is not ours
            try:
                redis.Redis.from_url(url, socket_timeout=1).ping()
                break
            except redis.RedisError:
                time.sleep(0.05)
        if proc.poll() is None:
            break
    else:
        pytest.fail("redis-server did not start on a free port")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_two_workers_split_one_run_without_duplicates(tmp_path: Path, redis_url: str) -> None:
    import redis

    n = 16
    with running_endpoint("--latency", "0.02", "--fault-rate", "0.05", "--hang-seconds", "1",
                          "--max-seconds", "120") as base_url:
        models = tmp_path / "models.yaml"
        # persona calls cached too, so the test sees the LLM cache land in the shared Redis
        models.write_text(models_yaml(base_url, timeout=0.5, extra="cache: {roles: [persona, critic, judge]}\n",
                                      extra_backend="    retry: {attempts: 8, initial_delay: 0.01, max_delay: 0.2}\n"))
        env = {**os.environ, "SIM_API_KEY": "test-key"}
        workers = [subprocess.Popen(
            [sys.executable, "run.py", "--scenario", "multiparty", "-n", str(n), "--concurrency", "3", "--seed", "4",
             "--models", str(models), "--out", str(tmp_path / name), "--redis", redis_url, "--run-id", "test-run",
             "--worker-id", name], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for name in ("w1", "w2")]
        for worker in workers:
            _, err = worker.communicate(timeout=150)
            assert worker.returncode == 0, err.decode()[-2000:]
    by_worker = {name: [json.loads(line)["index"] for line in (tmp_path / name / "conversations.jsonl").open()]
                 for name in ("w1", "w2")}
    everything = by_worker["w1"] + by_worker["w2"]
    assert len(everything) == n and len(set(everything)) == n, by_worker
    assert all(by_worker.values()), "both workers produced conversations"
    shared = redis.Redis.from_url(redis_url)
    assert int(shared.get("symposia:run:test-run:written")) == n
    assert shared.hlen("symposia:run:test-run:in_flight") == 0
    hub_ids = {json.loads(raw)["id"] for raw in shared.lrange("symposia:run:test-run:hub", 0, -1)}
    assert {f"exp-c{i:06d}" for i in everything} <= hub_ids  # each worker's experiences reached the other
    assert list(shared.scan_iter("symposia:llm:*", count=1000))  # the LLM cache is the shared one


def test_concurrent_first_claims_of_a_worker_never_share_an_index(redis_url: str) -> None:
    """Regression: each first claim used to re-read the worker's 'leftover' claims, so a coroutine
    could pick up the index another coroutine of the same worker had claimed a moment before."""
    import asyncio

    from orchestrator.claims import RedisClaims

    async def claim_all() -> list[int | None]:
        claims = RedisClaims(redis_url, "race-run", "w1", 50, max_failures=5)
        real_hgetall, reads = claims.redis.hgetall, []

        async def late_hgetall(key: str) -> dict:  # every read after the first lands after others' claims
            reads.append(key)
            if len(reads) > 1:
                await asyncio.sleep(0.05)
            return await real_hgetall(key)

        claims.redis.hgetall = late_hgetall  # type: ignore[method-assign]
        try:
            return list(await asyncio.gather(*(claims.claim() for _ in range(20))))
        finally:
            await claims.close()

    indices = asyncio.run(claim_all())
    assert sorted(i for i in indices if i is not None) == list(range(20)), indices


# ------------------------------------------------------------------ leases
def _board(redis_url: str, run: str) -> dict[str, object]:
    import redis

    shared = redis.Redis.from_url(redis_url)
    key = f"symposia:run:{run}"
    return {"written": int(shared.get(f"{key}:written") or 0), "in_flight": shared.hlen(f"{key}:in_flight"),
            "leases": shared.zcard(f"{key}:lease")}


def test_an_expired_claim_of_a_dead_worker_is_taken_over(redis_url: str) -> None:
    import asyncio

    from orchestrator.claims import WAIT, RedisClaims

    async def scenario() -> tuple[list[int | None], list[int | None]]:
        dead = RedisClaims(redis_url, "lease-run", "dead", 2, max_failures=5, lease_seconds=0.3)
        taken = [await dead.claim(), await dead.claim()]
        await dead.close()  # stops renewing and never finishes: as if the process was killed
        heir = RedisClaims(redis_url, "lease-run", "heir", 2, max_failures=5, lease_seconds=0.3)
        try:
            early = await heir.claim()  # the dead worker's leases still run: nothing to take
            await asyncio.sleep(0.4)
            later = [await heir.claim(), await heir.claim(), await heir.claim()]
            for index in later[:2]:
                assert index is not None
                await heir.finish(index, written=True)
            return [*taken, early], [*later, await heir.claim()]
        finally:
            await heir.close()

    before, after = asyncio.run(scenario())
    assert before == [0, 1, WAIT]
    assert sorted(after[:2]) == [0, 1] and after[2] == WAIT  # re-claimed, no new index beyond the target
    assert after[3] is None  # target reached: stop
    assert _board(redis_url, "lease-run") == {"written": 2, "in_flight": 0, "leases": 0}


def test_a_live_workers_claim_is_not_taken_over(redis_url: str) -> None:
    import asyncio

    from orchestrator.claims import WAIT, RedisClaims

    async def scenario() -> tuple[list[int | None], int]:
        live = RedisClaims(redis_url, "live-run", "live", 3, max_failures=5, lease_seconds=0.3)
        other = RedisClaims(redis_url, "live-run", "other", 3, max_failures=5, lease_seconds=0.3)
        try:
            held = await live.claim()
            seen = []
            for _ in range(12):  # 1.2 s: four lease times, the live worker renewing all along
                seen.append(await other.claim())
                await asyncio.sleep(0.1)
            assert held == 0 and live.lost_leases == 0
            await live.finish(0, written=True)
            for index in {i for i in seen if i is not None and i >= 0}:
                await other.finish(index, written=True)
            return seen, live.lost_leases
        finally:
            await live.close()
            await other.close()

    seen, lost = asyncio.run(scenario())
    assert 0 not in seen and lost == 0
    assert [i for i in seen if i != WAIT] == [1, 2]  # new indices only, then the target is covered
    assert _board(redis_url, "live-run") == {"written": 3, "in_flight": 0, "leases": 0}


def test_a_stalled_owner_finishing_after_a_takeover_is_counted_once(redis_url: str) -> None:
    import asyncio

    from orchestrator.claims import RedisClaims

    async def scenario() -> int:
        slow = RedisClaims(redis_url, "stall-run", "slow", 1, max_failures=5, lease_seconds=0.2)
        index = await slow.claim()
        assert slow._heartbeat is not None
        slow._heartbeat.cancel()  # stalled past its lease: it stops renewing, but it is not dead
        await asyncio.sleep(0.3)
        heir = RedisClaims(redis_url, "stall-run", "heir", 1, max_failures=5, lease_seconds=0.2)
        try:
            assert await heir.claim() == index
            await slow.finish(0, written=True)  # the first finish counts ...
            await heir.finish(0, written=True)  # ... the second does not
            return (await heir.counts())[0]
        finally:
            await slow.close()
            await heir.close()

    assert asyncio.run(scenario()) == 1
    assert _board(redis_url, "stall-run") == {"written": 1, "in_flight": 0, "leases": 0}


def test_a_restarted_worker_resumes_its_own_claims_with_fresh_leases(redis_url: str) -> None:
    import asyncio

    from orchestrator.claims import RedisClaims

    async def scenario() -> tuple[list[int | None], list[int | None]]:
        first = RedisClaims(redis_url, "restart-run", "w1", 3, max_failures=5, lease_seconds=0.3)
        taken = [await first.claim(), await first.claim(), await first.claim()]
        await first.close()  # crashed; index 0 had been written locally before the crash
        await asyncio.sleep(0.4)  # its leases expired, but nobody took the claims over
        again = RedisClaims(redis_url, "restart-run", "w1", 3, max_failures=5, lease_seconds=0.3,
                            completed=[0])
        other = RedisClaims(redis_url, "restart-run", "w2", 3, max_failures=5, lease_seconds=0.3)
        try:
            resumed = [await again.claim(), await again.claim()]
            assert await other.claim() == -1  # the resumed claims have fresh leases: nothing to take
            for index in resumed:
                assert index is not None
                await again.finish(index, written=True)
            return taken, resumed
        finally:
            await again.close()
            await other.close()

    taken, resumed = asyncio.run(scenario())
    assert taken == [0, 1, 2] and resumed == [1, 2]
    assert _board(redis_url, "restart-run") == {"written": 3, "in_flight": 0, "leases": 0}
