"""Runs through the `openai` backend against a real OpenAI-compatible server: llama-cpp-python's
own, serving the bundled SmolLM2-135M (one server for this module). It takes `json_object` (with
a schema, made into a grammar) and answers `json_schema` with HTTP 500, so these tests show the
preflight naming the fix, `auto` settling on json_object, and whole runs through that mode.

The 135M model does not produce a usable experience every time: the pipeline's bounded retries
and failure replacement must still give exactly N, so counts and structure are asserted, never
what the model said.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import run
from orchestrator.config import load_models
from orchestrator.models.hub import ModelHub
from orchestrator.prepare import GENERATION_ROLES
from tests.helpers import FIXTURES
from tests.llama_server import API_KEY_ENV, llama_models_yaml, running_llama_server

pytestmark = pytest.mark.integration

MULTIPARTY = str(FIXTURES / "scenarios" / "llama_server_multiparty.yaml")
CRITICS = str(FIXTURES / "scenarios" / "llama_server_critics.yaml")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_llama_server() as base_url:
        yield base_url


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "unused")


def models_file(tmp_path: Path, base_url: str, mode: str, *, embedded_experiences: bool = False) -> str:
    path = tmp_path / f"llama-{mode}.yaml"
    path.write_text(llama_models_yaml(base_url, mode=mode, embedded_experiences=embedded_experiences))
    return str(path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open()] if path.exists() else []


@pytest.mark.timeout(120)
def test_the_wrong_mode_stops_before_any_conversation_naming_the_fix(tmp_path: Path, server: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = run.main(["--scenario", MULTIPARTY, "-n", "1", "--out", str(out),
                     "--models", models_file(tmp_path, server, "json_schema")])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "backends.llama.structured_output: the endpoint rejects json_schema (HTTP 500: 1 validation error:" in err
    assert "Input should be 'text' or 'json_object'" in err
    assert err.rstrip().endswith("; use json_object")


@pytest.mark.timeout(120)
def test_auto_settles_on_json_object(tmp_path: Path, server: str) -> None:
    models, path = load_models(models_file(tmp_path, server, "auto"))
    hub = ModelHub(models, path, seed=0)
    hub.preflight(GENERATION_ROLES)
    assert hub.structured_modes == {"llama": "json_object"}


@pytest.mark.timeout(1200)
def test_a_multiparty_run_at_concurrency_4_writes_exactly_n(tmp_path: Path, server: str) -> None:
    out = tmp_path / "run"
    # experiences from the embedded model (see llama_models_yaml); persona and selector calls queue at the server
    # the 135M model's experiences fail their rules often: room for replacements, so the count is exact
    code = run.main(["--scenario", MULTIPARTY, "-n", "4", "--concurrency", "4", "--seed", "1", "--max-failures", "40",
                     "--out", str(out),
                     "--models", models_file(tmp_path, server, "auto", embedded_experiences=True)])
    assert code == 0
    records = read_jsonl(out / "conversations.jsonl")
    assert len(records) == 4 and len({r["id"] for r in records}) == 4
    for record in records:
        speakers = [t["speaker"] for t in record["turns"]]
        assert len(record["participants"]) == 3 and len(speakers) == 4
        assert set(speakers) <= set(record["participants"])
        assert all(a != b for a, b in itertools.pairwise(speakers))
        assert record["models"]["experience_generator"] == "embedded:local:SmolLM2-135M-Instruct.Q4_1.gguf"
        assert record["models"]["persona"] == record["models"]["selector"] == "llama:openai:smol"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["written"] == 4
    assert manifest["structured_output"] == {"llama": "json_object"} and manifest["concurrency"] == 4
    # four conversations queued at a one-request-at-a-time server: nothing timed out or gave up
    assert manifest["endpoints"]["llama"]["gave_up"] == 0
    assert "timeout" not in manifest["endpoints"]["llama"]["retried"]
    events = [e for t in (out / "transcripts").glob("*.jsonl") for e in read_jsonl(t)]
    asked = {e["role"] for e in events if e["event"] == "model_call" and e["schema"]}
    # structured calls: the selector's through the server's json_object, the experiences through the grammar
    assert asked == {"experience_generator", "selector"}
    assert any(e["event"] == "speaker_selected" and e["method"] == "llm" for e in events)


@pytest.mark.timeout(900)
def test_one_generator_critic_iteration(tmp_path: Path, server: str) -> None:
    out = tmp_path / "run"
    code = run.main(["--scenario", CRITICS, "-n", "1", "--seed", "2", "--out", str(out),
                     "--models", models_file(tmp_path, server, "json_object", embedded_experiences=True)])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["structured_output"] == {"llama": "json_object"}
    # rounds after the first only replace what failed (an experience the rules rejected 6 times)
    rounds = json.loads((out / "iterations.json").read_text())
    accepted = read_jsonl(out / "conversations.jsonl")
    assert len(accepted) == 1 and accepted[0]["review"]["decision"] == "accepted"
    reviews = [accepted[0]["review"], *(r["review"] for r in read_jsonl(out / "rejected.jsonl"))]
    assert [r["accepted"] for r in rounds] == [0] * (len(rounds) - 1) + [1] and len(reviews) >= 1
    for review in reviews:
        (coherence,) = [v for v in review["verdicts"] if v["expert"] == "coherence"]
        # the critic's verdict came through json_object: the server's grammar made it valid
        assert coherence["method"] == "llm" and coherence["status"] == "pass" and 1 <= coherence["score"] <= 5
