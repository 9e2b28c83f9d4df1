"""The hub's logprob client: first-token results decoded from autogen results, cached under
ChatCompletionCache's key recipe, and whole again after a JSON store round trip (Redis)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from autogen_core import InMemoryStore
from autogen_core.models import (
    ChatCompletionTokenLogprob,
    CreateResult,
    LLMMessage,
    RequestUsage,
    SystemMessage,
    TopLogprob,
    UserMessage,
)
from autogen_ext.models.cache import ChatCompletionCache
from autogen_ext.models.replay import ReplayChatCompletionClient

from orchestrator.config import ModelsConfig
from orchestrator.models.hub import ModelHub
from orchestrator.models.local import LOCAL_MODEL_INFO
from orchestrator.models.logprobs import FirstToken, call_key, first_token_of
from tests.helpers import FreshReplay

PROMPT: list[LLMMessage] = [SystemMessage(content="Rate it."), UserMessage(content="Score 1-5:", source="user")]


def score_result(pairs: list[tuple[str, float]]) -> CreateResult:
    top = [TopLogprob(logprob=lp, bytes=list(tok.encode())) for tok, lp in pairs]
    return CreateResult(content=pairs[0][0], finish_reason="length", cached=False,
                        usage=RequestUsage(prompt_tokens=3, completion_tokens=1),
                        logprobs=[ChatCompletionTokenLogprob(token=pairs[0][0], logprob=pairs[0][1], top_logprobs=top)])


def judge_hub(tmp_path: Path, replies: Sequence[str | CreateResult], cache: Mapping[str, object]) -> ModelHub:
    dummy = tmp_path / "dummy.gguf"
    dummy.write_bytes(b"GGUF")
    config = ModelsConfig.model_validate({"backends": {"b": {"type": "local", "model_path": str(dummy)}},
                                          "default": {"backend": "b"}, "cache": cache})
    hub = ModelHub(config, tmp_path / "models.yaml", seed=0)
    hub.install_client("b", FreshReplay(replies, model_info=LOCAL_MODEL_INFO))
    return hub


def test_the_key_is_chat_completion_caches() -> None:
    args = {"temperature": 0.0, "max_tokens": 1, "logprobs": True, "top_logprobs": 5, "seed": 7}
    autogen_cache = ChatCompletionCache(ReplayChatCompletionClient([]), InMemoryStore())
    _, expected = autogen_cache._check_cache(PROMPT, [], None, args)
    assert call_key(PROMPT, args) == expected


def test_candidates_are_decoded_from_their_bytes() -> None:
    found = first_token_of(score_result([(" 4", math.log(0.7)), ("3", math.log(0.2))]))
    assert found == FirstToken(top=[(" 4", math.log(0.7)), ("3", math.log(0.2))], produced=" 4")


async def test_first_tokens_are_cached_per_attempt_and_survive_a_json_store(tmp_path: Path) -> None:
    cache = {"store": "disk", "directory": str(tmp_path / "cache"), "roles": ["judge"]}
    hub = judge_hub(tmp_path, [score_result([("4", -0.1)]), score_result([("2", -0.3)])], cache)
    judge = hub.logprob_client("judge")
    first = await judge.first_token(PROMPT, watch=("1", "2"))
    retry = await judge.first_token(PROMPT, watch=("1", "2"), attempt=1)  # a retry asks again
    assert (first.produced, retry.produced) == ("4", "2") and judge.cached_calls == 0
    reopened = judge_hub(tmp_path, [], cache).logprob_client("judge")  # nothing left to replay
    assert await reopened.first_token(PROMPT, watch=("1", "2")) == first
    assert await reopened.first_token(PROMPT, watch=("1", "2"), attempt=1) == retry
    assert reopened.cached_calls == 2
    # Redis hands back the JSON of what was stored: the same result again
    assert FirstToken.model_validate_json(first.model_dump_json()) == first
