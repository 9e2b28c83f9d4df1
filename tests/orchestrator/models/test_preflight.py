"""The preflight against simulated servers that differ the way real ones do: one tiny call per
feature, a one-line error naming the field and the fix, `auto` settling on the mode that works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import run
from agents.errors import EndpointError
from orchestrator.config import OpenAIBackend, load_models
from orchestrator.models.hub import ModelHub
from orchestrator.prepare import GENERATION_ROLES
from tests.sim_endpoint import models_yaml, running_endpoint

LLAMA_CPP_LIKE = ("--accept-formats", "text,json_object")  # llama-cpp-python's server
UNENFORCED = ("--ignore-schema",)  # accepts schemas, does not enforce them


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_API_KEY", "test-key")


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[str]:
    with running_endpoint("--latency", "0", "--max-seconds", "60", *getattr(request, "param", ())) as url:
        yield url


def hub_for(tmp_path: Path, base_url: str, mode: str) -> ModelHub:
    models_file = tmp_path / "models.yaml"
    models_file.write_text(models_yaml(base_url, extra_backend=f"    structured_output: {mode}\n",
                                       extra="cache: {store: off}\n"))
    models, path = load_models(models_file)
    return ModelHub(models, path, seed=0)


def served(base_url: str) -> int:
    return int(httpx.get(base_url + "/stats").json()["requests"])


def test_one_call_per_feature_and_none_twice(tmp_path: Path, sim: str) -> None:
    hub = hub_for(tmp_path, sim, "json_schema")
    hub.preflight(GENERATION_ROLES)
    assert served(sim) == 2 and hub.structured_modes == {"sim": "json_schema"}  # chat + structured
    hub.preflight(("critic",))  # the same backend, already checked for both
    assert served(sim) == 2
    hub.preflight(("judge",))  # logprobs are new
    assert served(sim) == 3


@pytest.mark.parametrize("sim", [LLAMA_CPP_LIKE], indirect=True)
def test_a_rejected_mode_names_the_field_and_the_mode_that_works(tmp_path: Path, sim: str) -> None:
    hub = hub_for(tmp_path, sim, "json_schema")
    with pytest.raises(EndpointError) as caught:
        hub.preflight(GENERATION_ROLES)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'models.yaml'}: backends.sim.structured_output: the endpoint rejects "
                              "json_schema (HTTP 500: 1 validation error: {'type': 'literal_error'")
    assert "'input': 'json_schema'" in message and message.endswith("; use json_object")
    assert "\n" not in message
    assert served(sim) == 3  # chat, json_schema (rejected, not retried), json_object (the suggestion)


@pytest.mark.parametrize("sim", [UNENFORCED], indirect=True)
def test_an_unenforced_schema_is_caught(tmp_path: Path, sim: str) -> None:
    with pytest.raises(EndpointError) as caught:
        hub_for(tmp_path, sim, "json_schema").preflight(GENERATION_ROLES)
    assert "backends.sim.structured_output: the endpoint accepts json_schema but does not enforce its schema" \
        in str(caught.value)
    assert str(caught.value).endswith("; use prompt")  # json_object is not enforced either


@pytest.mark.parametrize(("sim", "chosen"), [((), "json_schema"), (LLAMA_CPP_LIKE, "json_object"),
                                             (UNENFORCED, "prompt")], indirect=["sim"])
def test_auto_keeps_the_first_mode_that_works(tmp_path: Path, sim: str, chosen: str) -> None:
    hub = hub_for(tmp_path, sim, "auto")
    assert hub.structured_mode("sim") is None  # nothing settled before the preflight
    hub.preflight(GENERATION_ROLES)
    assert hub.structured_modes == {"sim": chosen} and hub.structured_mode("sim") == chosen
    resolved, configured = hub.resolved_config().backends["sim"], hub.config.backends["sim"]
    assert isinstance(resolved, OpenAIBackend) and isinstance(configured, OpenAIBackend)
    assert resolved.structured_output == chosen  # what Ray workers get
    assert configured.structured_output == "auto"


@pytest.mark.parametrize("sim", [("--no-logprobs",)], indirect=True)
def test_the_judge_needs_logprobs(tmp_path: Path, sim: str) -> None:
    hub = hub_for(tmp_path, sim, "json_schema")
    hub.preflight(GENERATION_ROLES)  # generation does not need them
    with pytest.raises(EndpointError, match=r"roles\.judge\.backend: backend 'sim' returns no top logprobs"):
        hub.preflight(("judge",))


@pytest.mark.parametrize("sim", [("--fail-requests", "1:bad_request")], indirect=True)
def test_a_refused_chat_request_stops_at_once(tmp_path: Path, sim: str) -> None:
    with pytest.raises(EndpointError) as caught:
        hub_for(tmp_path, sim, "json_schema").preflight(GENERATION_ROLES)
    assert str(caught.value).endswith(
        ": backends.sim: the endpoint rejects a plain chat request "
        "(HTTP 400: Unrecognized request argument supplied: frobnicate); check the server and its log")
    assert served(sim) == 1


async def test_the_preflight_runs_inside_an_event_loop_too(tmp_path: Path, sim: str) -> None:
    hub = hub_for(tmp_path, sim, "json_schema")
    hub.preflight(GENERATION_ROLES)  # as `run.py evaluate` and async tests call it
    assert hub.structured_modes == {"sim": "json_schema"}


@pytest.mark.parametrize("sim", [LLAMA_CPP_LIKE], indirect=True)
def test_the_cli_exits_2_with_one_line_before_any_conversation(tmp_path: Path, sim: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    models_file = tmp_path / "models.yaml"
    models_file.write_text(models_yaml(sim, extra="cache: {store: off}\n"))  # json_schema by default
    out = tmp_path / "run"
    code = run.main(["--scenario", "multiparty", "-n", "2", "--models", str(models_file), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "backends.sim.structured_output: the endpoint rejects json_schema (HTTP 500" in err
    assert err.rstrip().endswith("; use json_object")
    stats = httpx.get(sim + "/stats").json()
    assert stats["requests"] == 3  # the probes only
