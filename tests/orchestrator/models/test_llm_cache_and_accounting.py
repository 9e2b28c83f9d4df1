"""LLM cache hit/miss per role and namespace; token and cost accounting sums."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from autogen_core.models import UserMessage

from orchestrator.config import ModelsConfig, load_models, load_scenario
from orchestrator.driver import execute_run
from orchestrator.models.cache import namespace
from orchestrator.models.hub import ModelHub
from orchestrator.models.local import LOCAL_MODEL_INFO
from orchestrator.prepare import RunRequest, prepare_run
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS, MANIFEST, TRANSCRIPTS
from orchestrator.store.transcript import Transcript
from tests.helpers import FreshReplay
from tests.sim_endpoint import models_yaml, running_endpoint


def cached_hub(tmp_path: Path, outputs: list[str], **backend: object) -> tuple[ModelHub, object]:
    dummy = tmp_path / "dummy.gguf"
    dummy.write_bytes(b"GGUF")
    config = ModelsConfig.model_validate({
        "backends": {"b": {"type": "local", "model_path": str(dummy), **backend}},
        "default": {"backend": "b"},
        "cache": {"store": "disk", "directory": str(tmp_path / "cache"), "roles": ["critic"]},
    })
    hub = ModelHub(config, tmp_path / "models.yaml", seed=0)
    client = FreshReplay(outputs, model_info=LOCAL_MODEL_INFO)
    hub.install_client("b", client)
    return hub, client


async def test_cache_hits_for_critics_and_never_for_generation(tmp_path: Path) -> None:
    hub, _ = cached_hub(tmp_path, ["verdict 1", "verdict 2", "line 1", "line 2"])
    transcript = Transcript()
    prompt = [UserMessage(content="judge this", source="user")]
    first = await hub.client("critic", agent="c", transcript=transcript, seed=1).create(prompt)
    again = await hub.client("critic", agent="c", transcript=transcript, seed=1).create(prompt)
    assert (first.content, first.cached, again.content, again.cached) == ("verdict 1", False, "verdict 1", True)
    other_seed = await hub.client("critic", agent="c", transcript=transcript, seed=2).create(prompt)
    assert other_seed.cached is False and other_seed.content == "verdict 2"  # the seed is part of the key
    persona = [await hub.client("persona", agent="p", transcript=transcript, seed=1).create(prompt) for _ in range(2)]
    assert [r.content for r in persona] == ["line 1", "line 2"] and not any(r.cached for r in persona)
    usage = transcript.usage["critic"]
    # a hit is a call, but its tokens were not spent: they are counted apart
    assert usage.calls == 3 and usage.cached_calls == 1
    assert usage.cached_prompt_tokens == first.usage.prompt_tokens
    assert usage.prompt_tokens == first.usage.prompt_tokens + other_seed.usage.prompt_tokens


async def test_cache_survives_the_process_and_is_namespaced_per_backend(tmp_path: Path) -> None:
    hub, _ = cached_hub(tmp_path, ["first answer"])
    prompt = [UserMessage(content="same prompt", source="user")]
    await hub.client("critic", agent="c", transcript=Transcript(), seed=1).create(prompt)
    reopened, _ = cached_hub(tmp_path, ["never used"])
    hit = await reopened.client("critic", agent="c", transcript=Transcript(), seed=1).create(prompt)
    assert hit.cached and hit.content == "first answer"
    other_model, _ = cached_hub(tmp_path, ["other model's answer"], n_ctx=4096)
    miss = await other_model.client("critic", agent="c", transcript=Transcript(), seed=1).create(prompt)
    assert not miss.cached and miss.content == "other model's answer"
    assert namespace(hub.config.backends["b"]) != namespace(other_model.config.backends["b"])


async def test_accounting_sums_match_per_call_usage_and_the_endpoint(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_API_KEY", "test-key")
    with running_endpoint("--latency", "0.005", "--max-seconds", "60") as base_url:
        models_file = tmp_path / "models.yaml"
        models_file.write_text(models_yaml(base_url, extra="cache: {store: off}\n",
                                           extra_backend="    prices: {prompt: 0.15, completion: 0.6}\n"))
        scenario, path = load_scenario("multiparty")
        models, models_path = load_models(models_file)
        prepared = prepare_run(RunRequest(
            scenario=scenario, scenario_path=path, models=models, models_path=models_path,
            num_conversations=4, out_dir=tmp_path / "run", seed=2, concurrency=4))
        before = httpx.get(base_url + "/stats").json()  # the preflight's probes are not the run's calls
        summary = await execute_run(prepared)
        after = httpx.get(base_url + "/stats").json()
        served = {k: after[k] - before[k] for k in ("prompt_tokens", "completion_tokens")}
    run = tmp_path / "run"
    per_call: dict[str, list[int]] = {}
    for transcript in (run / TRANSCRIPTS).glob("*.jsonl"):
        for event in read_jsonl(transcript).records:
            if event["event"] == "model_call":
                sums = per_call.setdefault(event["role"], [0, 0, 0])
                sums[0] += 1
                sums[1] += event["prompt_tokens"]
                sums[2] += event["completion_tokens"]
    by_role = {role: [u["calls"], u["prompt_tokens"], u["completion_tokens"]] for role, u in summary.usage.items()}
    assert by_role == per_call
    records = read_jsonl(run / CONVERSATIONS).records
    for role in by_role:  # per-conversation usage adds up to the run's
        assert sum(r["usage"].get(role, {}).get("prompt_tokens", 0) for r in records) == by_role[role][1]
    assert sum(v[1] for v in by_role.values()) == served["prompt_tokens"]
    assert sum(v[2] for v in by_role.values()) == served["completion_tokens"]
    expected_cost = (served["prompt_tokens"] * 0.15 + served["completion_tokens"] * 0.6) / 1e6
    assert summary.cost_usd == pytest.approx(expected_cost, rel=1e-3)
    assert json.loads((run / MANIFEST).read_text())["cost_usd"] == pytest.approx(expected_cost, rel=1e-3)
