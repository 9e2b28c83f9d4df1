"""The LLM cache in a real redis-server (started here on 127.0.0.1, random port, temp dir):
the one thing Redis is still used for, through autogen-ext's RedisStore."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from autogen_core.models import UserMessage

from orchestrator.config import ModelsConfig
from orchestrator.models.hub import ModelHub
from orchestrator.models.local import LOCAL_MODEL_INFO
from orchestrator.store.transcript import Transcript
from tests.helpers import FreshReplay

REDIS = shutil.which("redis-server")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(60),
    pytest.mark.skipif(REDIS is None and not __import__("os").environ.get("CI"),
                       reason="redis-server is not installed (Debian package redis-server)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    import redis

    assert REDIS is not None, "CI must install redis-server"
    for _ in range(5):  # the free port may be taken between the probe and redis-server's bind
        port = _free_port()
        proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
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


async def test_critic_calls_are_cached_in_redis_and_shared_by_two_hubs(tmp_path: Path, redis_url: str) -> None:
    import redis

    dummy = tmp_path / "dummy.gguf"
    dummy.write_bytes(b"GGUF")
    config = ModelsConfig.model_validate({
        "backends": {"b": {"type": "local", "model_path": str(dummy)}},
        "default": {"backend": "b"},
        "cache": {"store": "redis", "redis_url": redis_url, "roles": ["critic"]},
    })
    prompt = [UserMessage(content="judge this", source="user")]
    answers = []
    for replies in (["verdict A"], ["verdict B"]):  # two workers, each with its own hub and client
        hub = ModelHub(config, tmp_path / "models.yaml", seed=0)
        hub.install_client("b", FreshReplay(replies, model_info=LOCAL_MODEL_INFO))
        answers.append(await hub.client("critic", agent="c", transcript=Transcript(), seed=1).create(prompt))
    assert [a.content for a in answers] == ["verdict A", "verdict A"]  # the second hub read the first's entry
    assert [a.cached for a in answers] == [False, True]
    keys = list(redis.Redis.from_url(redis_url).scan_iter("symposia:llm:*"))
    assert len(keys) == 1


async def test_judge_texts_and_first_tokens_come_back_whole_from_redis(tmp_path: Path, redis_url: str) -> None:
    from autogen_core.models import ChatCompletionTokenLogprob, CreateResult, RequestUsage, TopLogprob

    dummy = tmp_path / "dummy.gguf"
    dummy.write_bytes(b"GGUF")
    config = ModelsConfig.model_validate({
        "backends": {"b": {"type": "local", "model_path": str(dummy)}},
        "default": {"backend": "b"},
        "cache": {"store": "redis", "redis_url": redis_url, "roles": ["judge"]},
    })
    top = [TopLogprob(logprob=-0.2, bytes=list(b"4")), TopLogprob(logprob=-1.9, bytes=list(b" 3"))]
    score = CreateResult(content="4", finish_reason="length", cached=False,
                         usage=RequestUsage(prompt_tokens=3, completion_tokens=1),
                         logprobs=[ChatCompletionTokenLogprob(token="4", logprob=-0.2, top_logprobs=top)])
    prompt = [UserMessage(content="rate this", source="user")]
    found = []
    runs: list[list[str | CreateResult]] = [["An explanation.", score], []]  # the second hub has nothing to replay
    for replies in runs:
        hub = ModelHub(config, tmp_path / "models.yaml", seed=0)
        hub.install_client("b", FreshReplay(replies, model_info=LOCAL_MODEL_INFO))
        judge = hub.logprob_client("judge")
        found.append((await judge.text(prompt), await judge.first_token(prompt, watch=("4",)), judge.cached_calls))
    assert found[0][:2] == found[1][:2]
    assert found[1][1].top == [("4", -0.2), (" 3", -1.9)]
    assert (found[0][2], found[1][2]) == (0, 2)
