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
    pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (Debian package redis-server)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    import redis

    port = _free_port()
    proc = subprocess.Popen([str(REDIS), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
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
