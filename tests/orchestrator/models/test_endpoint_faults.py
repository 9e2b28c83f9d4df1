"""Endpoint faults against the simulated endpoint: retries, Retry-After, throttling, timeouts;
a run with 20% of calls failing still writes the requested count."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from autogen_core.models import UserMessage

from orchestrator.config import RetryConfig, load_models, load_scenario
from orchestrator.driver import execute_run
from orchestrator.models.openai_compat import EndpointStatusError
from orchestrator.models.resilience import (
    AdaptiveLimiter,
    EndpointRejected,
    ResilientClient,
    classify,
    is_request_rejection,
    one_line,
    rejection_of,
    retry_after_seconds,
)
from orchestrator.prepare import RunRequest, prepare_run
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS, FAILURES, MANIFEST
from orchestrator.store.records import ConversationRecord
from tests.helpers import PREFLIGHT_REQUESTS
from tests.sim_endpoint import FAULTS, models_yaml, running_endpoint

RETRY = "    retry: {attempts: 8, initial_delay: 0.01, max_delay: 0.2, max_in_flight: 32}\n"


def sim_request(tmp_path: Path, base_url: str, n: int, *, concurrency: int = 6, extra: str = "") -> RunRequest:
    models_file = tmp_path / "models.yaml"
    models_file.write_text(models_yaml(base_url, timeout=0.5, extra_backend=RETRY,
                                       extra="cache: {store: off}\n" + extra))
    scenario, path = load_scenario("multiparty")
    models, models_path = load_models(models_file)
    return RunRequest(scenario=scenario, scenario_path=path, models=models, models_path=models_path,
                      num_conversations=n, out_dir=tmp_path / "run", seed=7, concurrency=concurrency)


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_API_KEY", "test-key")


async def test_twenty_percent_faults_still_write_the_requested_count(tmp_path: Path) -> None:
    with running_endpoint("--latency", "0.01", "--fault-rate", "0.2", "--hang-seconds", "1.5",
                          "--max-seconds", "120", "--seed", "3") as base_url:
        summary = await execute_run(prepare_run(sim_request(tmp_path, base_url, n=12)))
        served = httpx.get(base_url + "/stats").json()
    records = read_jsonl(tmp_path / "run" / CONVERSATIONS, ConversationRecord.model_validate_json).records
    assert summary.written == 12 and len(records) == 12
    assert len({r.id for r in records}) == 12
    assert all(len(r.turns) >= r.provenance.num_turns_target - 1 for r in records)
    # every fault kind was injected, and the transport-level ones were retried by us
    assert set(served["faults"]) == set(FAULTS), served
    retried = summary.endpoints["sim"]["retried"]
    assert {"rate_limit", "server_error", "timeout", "invalid_body", "empty_reply"} <= set(retried), retried
    manifest = json.loads((tmp_path / "run" / MANIFEST).read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["written"] == 12


async def test_a_conversation_that_keeps_failing_is_recorded_and_replaced(tmp_path: Path) -> None:
    # every call after the preflight fails: each conversation gives up, is recorded with its
    # reason, and the run stops at the failure budget instead of looping forever
    with running_endpoint("--latency", "0", "--fault-rate", "1.0", "--faults", "server_error",
                          "--fault-free-requests", str(PREFLIGHT_REQUESTS), "--max-seconds", "60") as base_url:
        request = sim_request(tmp_path, base_url, n=3, concurrency=2)
        request = RunRequest(**{**request.__dict__, "max_failures": 4})
        summary = await execute_run(prepare_run(request))
    failures = read_jsonl(tmp_path / "run" / FAILURES).records
    assert summary.written == 0 and summary.failed == len(failures) >= 4
    assert all("model call failed 8 times; last: server_error" in f["reason"] for f in failures)


def test_a_run_whose_requests_are_rejected_stops_after_three_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the preflight passes, then the endpoint rejects every request (a 400 no retry can fix): the
    # run stops after 3 conversations in a row failed on it, not after its budget of 10
    import run

    with running_endpoint("--latency", "0", "--fault-rate", "1.0", "--faults", "bad_request",
                          "--fault-free-requests", str(PREFLIGHT_REQUESTS), "--max-seconds", "60") as base_url:
        models_file = tmp_path / "models.yaml"
        models_file.write_text(models_yaml(base_url, timeout=0.5, extra_backend=RETRY, extra="cache: {store: off}\n"))
        code = run.main(["--scenario", "multiparty", "-n", "5", "--models", str(models_file),
                         "--out", str(tmp_path / "run"), "--max-failures", "10"])
        served = httpx.get(base_url + "/stats").json()
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert err == ("error: backends.sim: request rejected, not retried: HTTP 400: Unrecognized request argument "
                   "supplied: frobnicate; the last 3 conversations all failed on it, so the run stops "
                   f"(see {tmp_path / 'run' / 'failures.jsonl'})")
    failures = [json.loads(line) for line in (tmp_path / "run" / "failures.jsonl").open()]
    assert len(failures) == 3 and served["requests"] == PREFLIGHT_REQUESTS + 3  # one call each, never retried
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "stopped"


async def test_the_openai_sdk_client_is_still_selectable(tmp_path: Path) -> None:
    # `client: openai_sdk` keeps autogen-ext's OpenAI client; faults go through our retries, not
    # the SDK's own (max_retries=0). The faults are scheduled by request number, so the test sees
    # exactly these four whatever the ordering (a random fault rate let some runs see none); they
    # come after the preflight's probes, which use a client of their own.
    schedule = ",".join(f"{PREFLIGHT_REQUESTS + n}:{kind}" for n, kind in
                        ((1, "rate_limit"), (2, "server_error"), (7, "rate_limit"), (8, "server_error")))
    with running_endpoint("--latency", "0.01", "--fail-requests", schedule, "--max-seconds", "120") as base_url:
        request = sim_request(tmp_path, base_url, n=3)
        models_file = tmp_path / "models_sdk.yaml"
        models_file.write_text(models_yaml(base_url, timeout=5.0, extra_backend=RETRY + "    client: openai_sdk\n",
                                           extra="cache: {store: off}\n"))
        models, models_path = load_models(models_file)
        request = RunRequest(**{**request.__dict__, "models": models, "models_path": models_path})
        prepared = prepare_run(request)
        from autogen_ext.models.openai import OpenAIChatCompletionClient

        assert isinstance(prepared.models.backend_client("sim")._inner, OpenAIChatCompletionClient)  # type: ignore[attr-defined]
        summary = await execute_run(prepared)
        served = httpx.get(base_url + "/stats").json()
    assert summary.written == 3
    assert served["faults"] == {"rate_limit": 2, "server_error": 2}
    retried = summary.endpoints["sim"]["retried"]
    # every injected fault reached our retry policy: none was absorbed inside the SDK
    assert (retried.get("rate_limit"), retried.get("server_error")) == (2, 2), retried


def test_retry_after_header_is_honoured() -> None:
    response = SimpleNamespace(headers=httpx.Headers({"retry-after": "2.5"}))
    assert retry_after_seconds(SimpleNamespace(response=response)) == 2.5  # type: ignore[arg-type]
    response_ms = SimpleNamespace(headers=httpx.Headers({"retry-after-ms": "150", "retry-after": "9"}))
    assert retry_after_seconds(SimpleNamespace(response=response_ms)) == pytest.approx(0.15)  # type: ignore[arg-type]
    assert retry_after_seconds(ValueError("no response")) is None


def test_only_transient_failures_are_retried() -> None:
    assert classify(SimpleNamespace(status_code=429)) == "rate_limit"  # type: ignore[arg-type]
    assert classify(SimpleNamespace(status_code=503)) == "server_error"  # type: ignore[arg-type]
    assert classify(TimeoutError()) == "timeout"
    assert classify(SimpleNamespace(status_code=401)) is None  # type: ignore[arg-type]
    assert classify(ValueError("schema mismatch")) is None
    for status in (408, 409):  # a timeout or a conflict may pass on the next try
        assert classify(SimpleNamespace(status_code=status)) == "server_error"  # type: ignore[arg-type]


def test_request_rejections_are_told_apart_from_server_failures() -> None:
    # llama-cpp-python's server answers a response format it does not take with HTTP 500
    validation = EndpointStatusError(500, {}, "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', "
                                     "'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\"}")
    assert is_request_rejection(validation) and classify(validation) is None
    assert not is_request_rejection(EndpointStatusError(500, {}, "boom"))
    assert all(is_request_rejection(SimpleNamespace(status_code=s)) for s in (400, 401, 404, 422))  # type: ignore[arg-type]
    assert not any(is_request_rejection(SimpleNamespace(status_code=s)) for s in (408, 409, 429, 503))  # type: ignore[arg-type]


class _Rejecting:
    """A backend client whose every call the endpoint rejects."""

    def __init__(self, error: Exception) -> None:
        self.error, self.calls = error, 0

    async def create(self, *args: object, **kwargs: object) -> None:
        self.calls += 1
        raise self.error


async def test_a_rejected_request_is_sent_once_and_names_its_backend() -> None:
    inner = _Rejecting(EndpointStatusError(400, {}, "Unrecognized request argument supplied: frobnicate"))
    client = ResilientClient(inner, policy=RetryConfig(attempts=5, initial_delay=0.0),  # type: ignore[arg-type]
                             timeout=1.0, limiter=AdaptiveLimiter(4), backend="srv")
    with pytest.raises(EndpointRejected) as caught:
        await client.create([UserMessage(content="hi", source="user")])
    assert inner.calls == 1 and client.failures == {}
    message = ("backends.srv: request rejected, not retried: "
               "HTTP 400: Unrecognized request argument supplied: frobnicate")
    assert str(caught.value) == message
    # AutoGen's group chat re-raises an agent's error as text; the rejection is read back from it
    assert rejection_of(RuntimeError(f"EndpointRejected: {message}\nTraceback:\n  ...")) == message
    assert rejection_of(RuntimeError("EndpointGaveUp: model call failed 6 times")) is None
    server_traceback = "HTTP 500: 1 validation error:\n  bad\n\n  File \"/srv/app.py\", line 3"
    assert one_line(server_traceback) == "HTTP 500: 1 validation error: bad"


async def test_adaptive_limiter_halves_on_rate_limits_and_recovers() -> None:
    limiter = AdaptiveLimiter(16, cooldown=0.0)
    await limiter.acquire()
    await limiter.release(rate_limited=True)
    await limiter.acquire()
    await limiter.release(rate_limited=True)
    assert limiter.limit == 4 and limiter.cuts == 2
    for _ in range(40):
        await limiter.acquire()
        await limiter.release()
    assert 4 < limiter.limit <= 16


def test_retry_defaults_are_bounded() -> None:
    policy = RetryConfig()
    assert policy.attempts >= 3 and policy.max_delay <= 60
