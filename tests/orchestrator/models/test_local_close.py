"""Closing the embedded client while a decode runs (a Ctrl-C mid-run): the model must not be
freed under the decode (that segfaulted), the call in flight ends early and says why, and no
later call starts on the freed model. On the real model, in a child interpreter so that a
regression shows as its crash code instead of killing the test run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import python_in_checkout

pytestmark = pytest.mark.integration

CLOSE_DURING_DECODE = """
import asyncio, time
from autogen_core.models import UserMessage
from orchestrator.models.local import LocalLlamaClient, bundled_model_path

async def main():
    client = LocalLlamaClient(model_path=bundled_model_path(), n_ctx=2048, n_threads=1, seed=0,
                              defaults={"temperature": 1.0, "seed": 0})
    # still decoding when close() comes: the grammar allows no end before 1500 characters, and
    # 1500 tokens take over 10 s here
    call = asyncio.create_task(client.create([UserMessage(content="Tell me a long story.", source="user")],
                                             extra_create_args={"max_tokens": 1500,
                                                                "grammar": 'root ::= [a-z ]{1500}'}))
    while not client._lock.locked():
        await asyncio.sleep(0.01)
    await asyncio.sleep(1.0)  # well into the decode
    started = time.perf_counter()
    await client.close()
    closing = time.perf_counter() - started
    try:
        await call
        print("call: finished")
    except Exception as stopped:
        print("call:", type(stopped).__name__, stopped)
    try:
        await client.create([UserMessage(content="Hello", source="user")])
        print("later call: ran")
    except Exception as refused:
        print("later call:", type(refused).__name__, refused)
    print(f"close took {closing:.2f} s")

asyncio.run(main())
"""


def test_closing_during_a_decode_waits_for_it_stops_it_and_refuses_later_calls(tmp_path: Path) -> None:
    done = python_in_checkout(CLOSE_DURING_DECODE, tmp_path)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    lines = done.stdout.splitlines()
    assert lines[0] == "call: ModelClosed the embedded model was closed during the call (the run is stopping)", lines
    assert lines[1] == "later call: ModelClosed the embedded model was closed (the run is stopping)", lines
    assert float(lines[2].split()[2]) < 5.0, lines  # one token, not the rest of the 2000
