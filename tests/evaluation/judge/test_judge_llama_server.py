"""The G-Eval judge through the `openai` backend against llama-cpp-python's own server (bundled
model, one server for this module): the preflight's logprob probe passes and a score is read from
the server's top logprobs (it sends candidates without `bytes`; their text is kept)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluation.corpus import load_path
from evaluation.judge.geval import judge_item, load_judge_questions
from orchestrator.config import load_models
from orchestrator.models.hub import ModelHub
from tests.helpers import FIXTURES
from tests.llama_server import API_KEY_ENV, llama_models_yaml, running_llama_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_llama_server() as base_url:
        yield base_url


@pytest.mark.timeout(600)
async def test_the_judge_scores_from_the_servers_logprobs(tmp_path: Path, server: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "unused")
    models_file = tmp_path / "models.yaml"
    models_file.write_text(llama_models_yaml(server, judge_max_tokens=60))
    models, path = load_models(models_file)
    hub = ModelHub(models, path, seed=0)
    hub.preflight(["judge"])  # plain chat and the one-token logprob call
    try:
        judge = hub.logprob_client("judge")
        conversation = load_path(FIXTURES / "eval_run").conversations[0]
        item = await judge_item(judge, load_judge_questions(), conversation, "topic")
    finally:
        await hub.close()
    assert item.error is None, item.error
    assert item.explanation
    # the server's top candidates held a digit: no fallback was needed
    assert item.method == "top_logprobs" and item.score is not None and 1.0 <= item.score <= 5.0
    assert item.distribution and set(item.distribution) <= {1, 2, 3, 4, 5}
