"""The experience generator: unusable output is rejected, recorded and regenerated (bounded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.errors import GenerationError
from agents.experience_generator import build_experience_generator, experience_request
from agents.schemas import Experience, experience_schema
from orchestrator.config.prompt_files import load_prompt
from orchestrator.stages.experience import generate_experience
from orchestrator.store.transcript import Transcript
from tests.helpers import replay, replay_hub


def as_json(experience: Experience, **changes: object) -> str:
    data = experience.model_dump()
    data.update(changes)
    return json.dumps(data)


def template():
    return load_prompt("experience_generator", ("system", "user"))


def test_request_contains_shots_count_and_names(experience: Experience) -> None:
    text = experience_request(template(), num_participants=4, shots=[experience], names=["Mei", "Omar"])
    assert "exactly 4 people" in text
    assert "Mei, Omar" in text
    assert experience.situation in text


def test_agent_is_built_with_rendered_system_message(experience: Experience) -> None:
    agent = build_experience_generator(replay(["{}"]), template(), experience_schema(3))
    assert agent.name == "experience_generator"
    assert "Answer with JSON only" in agent._system_messages[0].content


async def test_bad_outputs_are_rejected_then_a_valid_one_accepted(tmp_path: Path, experience: Experience) -> None:
    outputs = [
        "not json at all",
        as_json(experience, starter={"speaker": "Nobody", "text": "hi"}),
        as_json(experience),
    ]
    hub = replay_hub(tmp_path, {"experience_generator": replay(outputs)})
    transcript = Transcript()
    result = await generate_experience(
        hub, template(), shots=[experience], num_participants=3, transcript=transcript, seed=1, max_attempts=4
    )
    assert result.participants[0].name == "Lena"
    rejected = [e for e in transcript.events if e["event"] == "experience_rejected"]
    assert [r["attempt"] for r in rejected] == [1, 2]
    assert "invalid JSON" in rejected[0]["reason"]
    assert "starter.speaker 'Nobody' is not a participant" in rejected[1]["reason"]
    calls = [e for e in transcript.events if e["event"] == "model_call"]
    assert calls[0]["reply"] == "not json at all"  # raw output kept for debugging
    assert transcript.usage["experience_generator"].calls == 3


async def test_gives_up_after_bounded_attempts(tmp_path: Path, experience: Experience) -> None:
    duplicate = experience.model_dump()
    duplicate["participants"][1]["name"] = "Lena"
    hub = replay_hub(tmp_path, {"experience_generator": replay([json.dumps(duplicate)] * 5)})
    with pytest.raises(GenerationError) as err:
        await generate_experience(
            hub, template(), shots=[], num_participants=3, transcript=Transcript(), seed=1, max_attempts=2
        )
    assert len(err.value.attempts) == 2
    reasons = [a["reason"] for a in err.value.attempts]
    assert all(isinstance(r, str) and "duplicate participant names: Lena" in r for r in reasons)


async def test_wrong_participant_count_is_rejected(tmp_path: Path, experience: Experience) -> None:
    hub = replay_hub(tmp_path, {"experience_generator": replay([as_json(experience)])})
    with pytest.raises(GenerationError) as err:
        await generate_experience(
            hub, template(), shots=[], num_participants=4, transcript=Transcript(), seed=1, max_attempts=1
        )
    assert "participants" in str(err.value.attempts[0]["reason"])
