"""End-to-end pipeline with replay clients: output schema, failures recorded, run continues."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from agents.errors import UserError
from agents.schemas import Experience
from orchestrator.driver import execute_run, repeated_rejection
from orchestrator.prepare import RunRequest, prepare_run
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS, FAILURES, HUB, MANIFEST, transcript_path
from orchestrator.store.records import ConversationRecord, FailureRecord
from tests.helpers import replay, replay_hub, tiny_request, varied_experience


def request(tmp_path: Path, n: int = 3) -> RunRequest:
    return tiny_request(tmp_path, n=n, seed=5, command_line=("run.py", "--test"))


async def test_run_writes_records_transcripts_hub_and_manifest(tmp_path: Path, experience: Experience) -> None:
    # the fixture is seed shot 1, and each written experience joins the hub: an experience whose
    # situation, topic or starter repeats a shot's is rejected (shot_copy), so each answer has its own
    variants = [varied_experience(experience, i) for i in range(3)]
    good, second, third = (json.dumps(v.model_dump()) for v in variants)
    prepared = prepare_run(request(tmp_path))
    prepared.models = replay_hub(tmp_path, {
        "experience_generator": replay([good, "garbage", "{}", second, third]),
        "persona": replay([f"reply number {i}" for i in range(60)]),
        "selector": replay(['{"next_speaker": "Tomas"}', '{"next_speaker": "Aisha"}', "??"] * 30),
    })
    summary = await execute_run(prepared)
    run = tmp_path / "run"
    # the failed conversation is recorded and replaced by a new index: the run reaches N=3
    assert (summary.written, summary.failed) == (3, 1)

    records = read_jsonl(run / CONVERSATIONS, ConversationRecord.model_validate_json).records
    assert [r.id for r in records] == ["c000000", "c000002", "c000003"]
    for record in records:
        speakers = [t.speaker for t in record.turns]
        assert speakers[0] == "Lena" and record.turns[0].text == record.experience.starter.text
        assert 4 <= len(record.turns) <= 5 and len(record.turns) == record.provenance.num_turns_target
        assert len(set(speakers)) == 3
        assert all(a != b for a, b in itertools.pairwise(speakers))
        assert {"experience_generator", "persona", "selector"} <= set(record.usage)
        assert record.usage["selector"].calls >= 1
        assert record.models["persona"].startswith("persona:local:")
        assert transcript_path(run, record.id).exists()

    failure = FailureRecord.model_validate_json((run / FAILURES).read_text())
    assert failure.stage == "experience" and len(failure.attempts) == 2
    events = read_jsonl(transcript_path(run, "c000001")).records
    assert [e["event"] for e in events].count("experience_rejected") == 2

    manifest = json.loads((run / MANIFEST).read_text())
    assert manifest["status"] == "complete"
    assert manifest["counts"] == {"written": 3, "failed": 1, "missing": 0, "hub_size": 6}
    assert manifest["packages"]["autogen-agentchat"] == "0.7.5"
    assert manifest["seed"] == 5 and manifest["command_line"] == ["run.py", "--test"]
    hub = json.loads((run / HUB).read_text())
    assert [s["id"] for s in hub["shots"]][-3:] == ["exp-c000000", "exp-c000002", "exp-c000003"]


async def test_transcript_records_calls_and_selector_decisions(tmp_path: Path, experience: Experience) -> None:
    prepared = prepare_run(request(tmp_path, n=1))
    prepared.models = replay_hub(tmp_path, {
        "experience_generator": replay([json.dumps(experience.model_dump())]),
        "persona": replay([f"reply {i}" for i in range(10)]),
        "selector": replay(['{"next_speaker": "Aisha"}'] * 10),
    })
    await execute_run(prepared)
    events = read_jsonl(transcript_path(tmp_path / "run", "c000000")).records
    kinds = [e["event"] for e in events]
    assert kinds[0] == "conversation_started"
    assert kinds.count("agent_created") == 3
    selections = [e for e in events if e["event"] == "speaker_selected"]
    assert selections and all(e["speaker"] in e["candidates"] for e in selections)
    persona_calls = [e for e in events if e["event"] == "model_call" and e["role"] == "persona"]
    assert persona_calls and all({"prompt_hash", "prompt_tokens", "reply", "seconds"} <= set(e) for e in persona_calls)


async def test_existing_run_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / MANIFEST).write_text("{}")
    prepared = prepare_run(request(tmp_path, n=1))
    with pytest.raises(UserError, match="already holds a run"):
        await execute_run(prepared)


def test_a_run_stops_only_on_the_same_rejection_every_time() -> None:
    same = "backends.srv: request rejected, not retried: HTTP 400: bad"
    assert repeated_rejection([same, same, same], 3) == same
    assert repeated_rejection([None, same, same, same], 3) == same
    assert repeated_rejection([same, same], 3) is None  # too few yet
    assert repeated_rejection([same, None, same], 3) is None  # a success, or a failure of another kind, between
    assert repeated_rejection([same, same, same.replace("bad", "other")], 3) is None
    assert repeated_rejection([None, None, None], 3) is None
