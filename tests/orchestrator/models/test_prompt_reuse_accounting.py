"""Prompt tokens evaluated vs reused reach the transcript and the usage totals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autogen_core.models import CreateResult, UserMessage

from orchestrator.models.engine_counts import EngineUsage
from orchestrator.store.transcript import Transcript
from orchestrator.store.usage import RoleUsage
from tests.helpers import FreshReplay, replay_hub


class ReusingReplay(FreshReplay):
    """Answers like the embedded engine: 40 prompt tokens, 30 of them kept from before."""

    async def create(self, *args: Any, **kwargs: Any) -> CreateResult:
        result = await super().create(*args, **kwargs)
        return result.model_copy(update={"usage": EngineUsage(prompt_tokens=40, completion_tokens=5,
                                                              reused_prompt_tokens=30)})


async def test_model_calls_record_evaluated_and_reused_prompt_tokens(tmp_path: Path) -> None:
    hub = replay_hub(tmp_path, {"persona": ReusingReplay(["hello", "again"])})
    transcript = Transcript()
    client = hub.client("persona", agent="Ana", transcript=transcript, seed=1)
    for _ in range(2):
        await client.create([UserMessage(content="hi", source="Leo")])
    calls = [e for e in transcript.events if e["event"] == "model_call"]
    assert [(c["prompt_tokens"], c["prompt_tokens_evaluated"], c["prompt_tokens_reused"]) for c in calls] == [
        (40, 10, 30), (40, 10, 30)]
    usage = transcript.usage["persona"]
    assert (usage.prompt_tokens, usage.reused_prompt_tokens, usage.evaluated_prompt_tokens) == (80, 60, 20)


async def test_backends_that_do_not_say_count_every_prompt_token_as_evaluated(tmp_path: Path) -> None:
    hub = replay_hub(tmp_path, {"persona": FreshReplay(["hello"])})
    transcript = Transcript()
    result = await hub.client("persona", agent="Ana", transcript=transcript, seed=1).create(
        [UserMessage(content="hi", source="Leo")])
    (call,) = [e for e in transcript.events if e["event"] == "model_call"]
    assert call["prompt_tokens_reused"] == 0 and call["prompt_tokens_evaluated"] == result.usage.prompt_tokens


def test_usage_totals_add_reused_tokens() -> None:
    one = RoleUsage(calls=1, prompt_tokens=40, completion_tokens=5, reused_prompt_tokens=30)
    both = one + one.with_call(10, 1, 0.1, False, reused=4)
    assert (both.prompt_tokens, both.reused_prompt_tokens) == (90, 64)
    cached = one.with_call(40, 5, 0.0, True, reused=40)  # a cache hit spends nothing and reuses nothing
    assert cached.reused_prompt_tokens == 30
