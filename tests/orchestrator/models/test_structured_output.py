"""Structured-output modes: how each mode shapes the request, how `prompt` mode reads the reply,
and runs whose every structured stage (experience, selector, critics) goes through each mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from autogen_core.models import CreateResult, RequestUsage, SystemMessage, UserMessage

from agents.errors import ConfigError
from agents.schemas import speaker_choice_schema
from orchestrator.config import ModelsConfig, Role, load_models, load_scenario
from orchestrator.driver import execute_run
from orchestrator.models.hub import ModelHub
from orchestrator.models.local import LOCAL_MODEL_INFO
from orchestrator.models.structured_output import SCHEMA_MARKER, StructuredOutputClient, extract_json
from orchestrator.prepare import RunRequest, prepare_run
from orchestrator.stages.experience import generate_experience
from orchestrator.stages.llm_selector import make_constrained_selector
from orchestrator.store.transcript import Transcript
from tests.helpers import FIXTURES, FreshReplay, load_experience
from tests.sim_endpoint import models_yaml, running_endpoint

Choice = speaker_choice_schema(["Ann", "Bob"])


class Capturing:
    """An inner client that records what it was asked and answers `reply`."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls: list[dict[str, Any]] = []

    async def create(self, messages: Any, **kwargs: Any) -> CreateResult:
        self.calls.append({"messages": list(messages), **kwargs})
        return CreateResult(finish_reason="stop", content=self.reply, usage=RequestUsage(prompt_tokens=1,
                            completion_tokens=1), cached=False)


MESSAGES = [SystemMessage(content="You pick speakers."), UserMessage(content="Who speaks next?", source="user")]


async def test_json_schema_mode_passes_the_schema_on_unchanged() -> None:
    inner = Capturing('{"next_speaker": "Ann"}')
    await StructuredOutputClient(inner, "json_schema").create(MESSAGES, json_output=Choice,  # type: ignore[arg-type]
                                                              extra_create_args={"temperature": 0.0})
    assert inner.calls[0]["json_output"] is Choice and inner.calls[0]["messages"] == MESSAGES
    assert inner.calls[0]["extra_create_args"] == {"temperature": 0.0}


async def test_json_object_mode_sends_the_schema_beside_the_json_object_format() -> None:
    inner = Capturing('{"next_speaker": "Ann"}')
    await StructuredOutputClient(inner, "json_object").create(MESSAGES, json_output=Choice,  # type: ignore[arg-type]
                                                              extra_create_args={"temperature": 0.0})
    call = inner.calls[0]
    assert call["json_output"] is None and call["messages"] == MESSAGES
    assert call["extra_create_args"] == {"temperature": 0.0, "response_format": {
        "type": "json_object", "schema": Choice.model_json_schema()}}


async def test_prompt_mode_puts_the_schema_in_the_prompt_and_cuts_the_json_out_of_the_reply() -> None:
    inner = Capturing('Sure! Here it is:\n```json\n{"next_speaker": "Bob"}\n```\nAnything else?')
    result = await StructuredOutputClient(inner, "prompt").create(MESSAGES, json_output=Choice)  # type: ignore[arg-type]
    call = inner.calls[0]
    assert call["json_output"] is None and "response_format" not in call["extra_create_args"]
    assert call["messages"][0] == MESSAGES[0] and len(call["messages"]) == 2
    asked = call["messages"][-1].content
    assert asked.startswith("Who speaks next?\n\n")
    assert json.loads(asked.rsplit(SCHEMA_MARKER, 1)[1]) == Choice.model_json_schema()
    assert result.content == '{"next_speaker": "Bob"}'


async def test_calls_without_a_schema_pass_through_in_every_mode() -> None:
    for mode in ("json_schema", "json_object", "prompt", None):
        inner = Capturing("Hello there.")
        result = await StructuredOutputClient(inner, mode).create(MESSAGES)  # type: ignore[arg-type]
        assert result.content == "Hello there." and inner.calls[0]["messages"] == MESSAGES
        assert inner.calls[0]["json_output"] is None and inner.calls[0]["extra_create_args"] == {}


async def test_an_unsettled_auto_mode_refuses_a_structured_call() -> None:
    with pytest.raises(ConfigError, match="auto is settled by the preflight"):
        await StructuredOutputClient(Capturing("{}"), None).create(MESSAGES, json_output=Choice)  # type: ignore[arg-type]


@pytest.mark.parametrize(("reply", "expected"), [
    ('{"a": 1}', '{"a": 1}'),
    ('  {"a": 1}\n', '{"a": 1}'),
    ('```json\n{"a": {"b": [1, 2]}}\n```', '{"a": {"b": [1, 2]}}'),
    ('I think {maybe} this: {"a": "x}y"} and more', '{"a": "x}y"}'),
    ("no JSON here", "no JSON here"),  # unchanged: the caller's validation records what was said
    ("[1, 2]", "[1, 2]"),  # not an object: unchanged
])
def test_extract_json(reply: str, expected: str) -> None:
    assert extract_json(reply) == expected


def test_names_are_pinned_where_a_grammar_enforces_the_schema(tmp_path: Path) -> None:
    dummy = tmp_path / "dummy.gguf"
    dummy.write_bytes(b"GGUF")
    remote = {"type": "openai", "model": "m", "model_info": {"family": "unknown"}}
    config = ModelsConfig.model_validate({
        "backends": {"embedded": {"type": "local", "model_path": str(dummy)},
                     "llama": {**remote, "structured_output": "json_object"},
                     "openai": {**remote, "structured_output": "json_schema"},
                     "chat": {**remote, "structured_output": "prompt"}},
        "default": {"backend": "embedded"},
        "roles": {"experience_generator": {"backend": "llama"}, "critic": {"backend": "openai"},
                  "selector": {"backend": "chat"}},
    })
    hub = ModelHub(config, tmp_path / "models.yaml", seed=0)
    # the embedded engine and a llama.cpp server's json_object turn any schema into a grammar;
    # strict json_schema endpoints refuse the tuple items of a pinned schema, prompt mode enforces nothing
    assert [hub.enforces_schemas(r) for r in ("persona", "experience_generator", "critic", "selector")] == [
        True, True, False, False]
    assert not hub.has_grammar("experience_generator")  # no llama.cpp-only sampling settings sent


# ------------------------------------------------------------------ prompt mode: validation and rejections
def prompt_mode_hub(tmp_path: Path, outputs: list[str]) -> ModelHub:
    config = ModelsConfig.model_validate({
        "backends": {"srv": {"type": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1",
                             "structured_output": "prompt", "model_info": {"family": "unknown"}}},
        "default": {"backend": "srv"},
        "cache": {"store": "off"},
    })
    hub = ModelHub(config, tmp_path / "models.yaml", seed=0)
    hub.install_client("srv", FreshReplay(outputs, model_info=LOCAL_MODEL_INFO))
    return hub


async def test_prompt_mode_replies_are_validated_and_rejections_recorded(tmp_path: Path) -> None:
    from orchestrator.config.prompt_files import load_prompt

    valid = json.loads((FIXTURES / "foundation" / "experience_two.json").read_text())
    hub = prompt_mode_hub(tmp_path, ["I would love to help with that story!",
                                     f"Here you go:\n```json\n{json.dumps(valid)}\n```"])
    transcript = Transcript()
    experience = await generate_experience(hub, load_prompt("experience_generator"), shots=[load_experience()],
                                           num_participants=2, transcript=transcript, seed=1, max_attempts=3)
    assert [p.name for p in experience.participants] == [p["name"] for p in valid["participants"]]
    rejected = [e for e in transcript.events if e["event"] == "experience_rejected"]
    assert len(rejected) == 1 and rejected[0]["reason"].startswith("invalid JSON for the experience schema")
    calls = [e for e in transcript.events if e["event"] == "model_call"]
    assert calls[0]["reply"] == "I would love to help with that story!"  # what the model really said
    assert json.loads(calls[1]["reply"]) == valid  # the JSON that was validated


async def test_prompt_mode_speaker_choice_retries_then_picks(tmp_path: Path) -> None:
    from autogen_agentchat.messages import TextMessage

    from orchestrator.config.prompt_files import load_prompt

    hub = prompt_mode_hub(tmp_path, ["Bob should talk.", '{"next_speaker": "Bob"}'])
    transcript = Transcript()
    select = make_constrained_selector(
        roster=["Ann", "Bob", "Cy"], descriptions={"Ann": "a", "Bob": "b", "Cy": "c"},
        client=hub.client("selector", agent="selector", transcript=transcript, seed=1),
        template=load_prompt("group_chat", ("opening", "selector", "autogen_selector")),
        transcript=transcript, max_attempts=3)
    thread = [TextMessage(source="user", content="Scene."), TextMessage(source="Ann", content="Hello all.")]
    assert await select(thread) == "Bob"
    chosen = next(e for e in transcript.events if e["event"] == "speaker_selected")
    assert chosen["method"] == "llm" and chosen["attempt"] == 2
    assert chosen["failures"][0].startswith("attempt 1: ")  # the rejected answer is recorded


async def test_persona_expansion_goes_through_the_mode(tmp_path: Path) -> None:
    from agents.persona_expansion_agents import induce_query
    from orchestrator.config.prompt_files import load_prompt

    reply = 'Category found!\n```json\n{"label": "pets", "query": "What pets do you have?"}\n```'
    hub = prompt_mode_hub(tmp_path, [reply])
    transcript = Transcript()
    client = hub.client("experience_generator", agent="query_inducer", transcript=transcript, seed=1)
    induced = await induce_query(client, load_prompt("persona_expansion"), ["I have a dog.", "I own a cat."])
    assert (induced.label, induced.query) == ("pets", "What pets do you have?")
    (call,) = [e for e in transcript.events if e["event"] == "model_call"]
    assert call["schema"] == "InducedQuery"


# ------------------------------------------------------------------ whole runs through each mode
@pytest.fixture
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_API_KEY", "test-key")


@pytest.mark.usefixtures("_api_key")
@pytest.mark.parametrize(("mode", "server"), [
    ("json_object", ("--accept-formats", "text,json_object")),  # as llama-cpp-python's server
    ("prompt", ("--ignore-schema",)),  # a server that does not enforce schemas
    ("auto", ("--accept-formats", "text,json_object")),
])
async def test_a_generator_critic_run_goes_through_the_mode(tmp_path: Path, mode: str,
                                                            server: tuple[str, ...]) -> None:
    with running_endpoint("--latency", "0", "--max-seconds", "120", *server) as base_url:
        models_file = tmp_path / "models.yaml"
        models_file.write_text(models_yaml(base_url, extra_backend=f"    structured_output: {mode}\n",
                                           extra="cache: {store: off}\n"))
        scenario, path = load_scenario(str(FIXTURES / "scenarios" / "sim_critics.yaml"))
        models, models_path = load_models(models_file)
        summary = await execute_run(prepare_run(RunRequest(
            scenario=scenario, scenario_path=path, models=models, models_path=models_path,
            num_conversations=2, out_dir=tmp_path / "run", seed=3, concurrency=2)))
    chosen = "json_object" if mode == "auto" else mode
    assert summary.written == 2
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["structured_output"] == {"sim": chosen}
    assert manifest["models"]["backends"]["sim"]["structured_output"] == mode  # as configured
    events = [json.loads(line) for t in (tmp_path / "run" / "transcripts").glob("*.jsonl") for line in t.open()]
    structured = [e for e in events if e["event"] == "model_call" and e["schema"]]
    # the experience generator, the speaker selector and the critics all asked for structured output
    assert {e["role"] for e in structured} == {"experience_generator", "selector", "critic"}
    assert all(isinstance(json.loads(e["reply"]), dict) for e in structured)


async def test_avoided_openings_go_only_to_the_embedded_engine(tmp_path: Path) -> None:
    dummy = tmp_path / "dummy.gguf"
    dummy.write_bytes(b"GGUF")
    config = ModelsConfig.model_validate({
        "backends": {"embedded": {"type": "local", "model_path": str(dummy)},
                     "srv": {"type": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1",
                             "model_info": {"family": "unknown"}}},
        "default": {"backend": "embedded"},
        "roles": {"critic": {"backend": "srv"}},
        "cache": {"store": "off"},
    })
    hub = ModelHub(config, tmp_path / "models.yaml", seed=0)
    local, remote = Capturing("Hello there."), Capturing("Fine.")
    hub.install_client("embedded", local)  # type: ignore[arg-type]
    hub.install_client("srv", remote)  # type: ignore[arg-type]
    roles: list[tuple[Role, Capturing]] = [("persona", local), ("critic", remote)]
    for role, inner in roles:
        client = hub.client(role, agent="bao", transcript=Transcript(), seed=1, avoid_openings=["Bao", "Situation"])
        await client.create([SystemMessage(content="You are Bao."), UserMessage(content="Hi!", source="Joy")])
        sent = inner.calls[-1]["extra_create_args"]
        # a remote server has no first-token mask; the reply checks catch a self-address there
        assert sent.get("avoid_openings") == (["Bao", "Situation"] if inner is local else None)
