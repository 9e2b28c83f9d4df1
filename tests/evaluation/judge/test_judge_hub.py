"""The judge on a remote backend through the model hub, against the simulated endpoint: its calls
go through the backend's retries, its score reads the endpoint's logprobs, and with `judge` in
cache.roles a second evaluation is answered by the LLM cache with the same scores."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from evaluation.corpus import load_path
from evaluation.judge.geval import JudgeItem, judge_conversations, judge_item, load_judge_questions
from orchestrator.config import load_models
from orchestrator.models.hub import ModelHub
from tests.helpers import FIXTURES
from tests.sim_endpoint import models_yaml, running_endpoint

RUN = FIXTURES / "eval_run"
RETRY = "    retry: {attempts: 4, initial_delay: 0.01, max_delay: 0.1, max_in_flight: 4}\n"


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_API_KEY", "test-key")


def sim_hub(tmp_path: Path, base_url: str, *, client: str = "lean", cache: str = "{store: off}") -> ModelHub:
    models_file = tmp_path / "models.yaml"
    models_file.write_text(models_yaml(base_url, timeout=1.0, extra_backend=RETRY + f"    client: {client}\n",
                                       extra=f"roles: {{judge: {{temperature: 0.0}}}}\ncache: {cache}\n"))
    models, path = load_models(models_file)
    return ModelHub(models, path, seed=0)


def sim_score(request_number: int) -> float:
    """What tests/sim_endpoint.py's `_score_logprobs` gives for that request: p=0.6 on one digit,
    0.3 on its neighbour, the rest on a non-digit (renormalised away)."""
    digit = 1 + request_number % 5
    other = digit + 1 if digit < 5 else 4
    return (digit * 0.6 + other * 0.3) / 0.9


@pytest.mark.parametrize("client", ["lean", "openai_sdk"])
async def test_judge_calls_go_through_the_backends_retries(tmp_path: Path, client: str) -> None:
    # requests 1-3: the explanation (429, then 500, then answered); 4-5: the score (a body that
    # is not JSON, then answered): every fault is retried by the hub's ResilientClient
    schedule = "1:rate_limit,2:server_error,4:invalid_json"
    with running_endpoint("--latency", "0", "--fail-requests", schedule, "--max-seconds", "60") as base_url:
        hub = sim_hub(tmp_path, base_url, client=client)
        try:
            judge = hub.logprob_client("judge")
            item = await judge_item(judge, load_judge_questions(), load_path(RUN).conversations[0], "topic")
            stats = hub.endpoint_stats()
        finally:
            await hub.close()
        served = httpx.get(base_url + "/stats").json()
    assert item.error is None, item.error
    assert item.explanation and item.attempts == 2  # one explain call, one score call: retries are below
    assert item.method == "top_logprobs" and item.score == pytest.approx(sim_score(5))
    assert served["requests"] == 5 and served["faults"] == {"rate_limit": 1, "server_error": 1, "invalid_json": 1}
    assert stats["sim"]["retried"] == {"rate_limit": 1, "server_error": 1, "invalid_body": 1}


async def test_candidates_without_bytes_keep_their_text(tmp_path: Path) -> None:
    # llama-cpp-python's server sends no `bytes`; autogen keeps a candidate's text only as bytes
    with running_endpoint("--latency", "0", "--no-logprob-bytes", "--max-seconds", "60") as base_url:
        hub = sim_hub(tmp_path, base_url)
        try:
            item = await judge_item(hub.logprob_client("judge"), load_judge_questions(),
                                    load_path(RUN).conversations[0], "overall")
        finally:
            await hub.close()
    assert item.method == "top_logprobs" and item.score == pytest.approx(sim_score(2))


async def test_a_second_evaluation_is_answered_by_the_judge_cache(tmp_path: Path) -> None:
    conv = load_path(RUN).conversations[0]
    cache = f"{{store: disk, directory: {tmp_path / 'cache'}, roles: [judge]}}"
    runs: list[tuple[list[JudgeItem], int, int, int]] = []
    with running_endpoint("--latency", "0", "--max-seconds", "60") as base_url:
        for _ in range(2):  # two evaluations, each with its own hub (as two `run.py evaluate` would)
            hub = sim_hub(tmp_path, base_url, cache=cache)
            try:
                judge = hub.logprob_client("judge")
                items = await judge_conversations(judge, [conv])
            finally:
                await hub.close()
            served = httpx.get(base_url + "/stats").json()["requests"]
            runs.append((items, judge.calls, judge.cached_calls, served))
    (first, calls, cached_first, served_first), (second, calls_again, cached_second, served_second) = runs
    assert all(i.error is None for i in first + second)
    assert cached_first == 0 and served_first == calls == 2 * len(first)
    # the endpoint's scores change with every request it serves: equal scores came from the cache
    assert served_second == served_first and cached_second == calls_again == calls
    assert [(i.score, i.distribution, i.explanation) for i in second] == [
        (i.score, i.distribution, i.explanation) for i in first]
    assert len({i.score for i in first}) > 1
