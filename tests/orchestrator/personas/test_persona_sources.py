"""Sampled and reused persona sources: the right people, experiences written around them, and
persona agents that carry the source's sentences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.errors import ConfigError
from agents.experience_frame import ExperienceFrame, GivenPersona
from agents.persona_agent import build_persona_agent
from agents.schemas import Experience
from orchestrator.config import PersonaSourceConfig
from orchestrator.config.prompt_files import load_names, load_prompt
from orchestrator.personas.sources import build_persona_source, framed_request
from orchestrator.stages.experience import generate_experience
from orchestrator.store.transcript import Transcript
from tests.helpers import FIXTURES, replay, replay_hub

LIBRARY = str(FIXTURES / "personas_library")


def frame_for(people: list[GivenPersona]) -> str:
    a, b = people[0].name, people[1].name
    return json.dumps(
        {
            "relations": [{"person_a": a, "person_b": b, "relation": "neighbours"}],
            "situation": "A power cut on the street.",
            "topic": "Candles for the night",
            "starter": {"speaker": b, "text": "Got matches?"},
        }
    )


async def test_sampled_library_builds_agents_from_the_library(tmp_path: Path) -> None:
    source = build_persona_source(
        PersonaSourceConfig(source="sampled", library=LIBRARY), load_names(), seed=3
    )
    people = source.draw(0, 2)
    assert people is not None and all(p.complete for p in people)
    assert people == source.draw(0, 2)  # seeded per conversation
    template = load_prompt("experience_generator")
    hub = replay_hub(tmp_path, {"experience_generator": replay(["{}", frame_for(people)])})
    framed = framed_request(people, template, shots=[], pin=True)
    assert issubclass(framed.schema, ExperienceFrame)  # only the frame is asked for
    transcript = Transcript()
    experience = await generate_experience(
        hub,
        template,
        shots=[],
        num_participants=2,
        transcript=transcript,
        seed=1,
        max_attempts=2,
        framed=framed,
    )
    assert [p.name for p in experience.participants] == [p.name for p in people]
    assert experience.participants[0] == people[0].participant
    assert [e["event"] for e in transcript.events].count("experience_rejected") == 1
    agent = build_persona_agent(
        experience.participants[0],
        experience,
        template=load_prompt("persona_agent"),
        model_client=replay([]),
        reply_style="short",
        max_reply_words=20,
    )
    system = agent._system_messages[0].content
    assert f"You are {people[0].name}" in system
    assert "About you:" in system and people[0].attributes[0] in system


async def test_sampled_jsonl_free_text_gets_details_written(
    tmp_path: Path, experience: Experience
) -> None:
    source = build_persona_source(
        PersonaSourceConfig(source="sampled", hub="jsonl"), load_names(), seed=0
    )
    people = source.draw(5, 2)
    assert people is not None and not any(p.complete for p in people)
    data = experience.model_dump()
    data["participants"] = data["participants"][:2]
    for person, given in zip(data["participants"], people, strict=True):
        person["name"] = given.name
    data["relations"] = [
        {"person_a": people[0].name, "person_b": people[1].name, "relation": "cousins"}
    ]
    data["starter"]["speaker"] = people[0].name
    template = load_prompt("experience_generator")
    framed = framed_request(people, template, shots=[experience], pin=True)
    assert "Describe each of these people faithfully" in framed.request
    assert people[0].attributes[0] in framed.request
    hub = replay_hub(tmp_path, {"experience_generator": replay([json.dumps(data)])})
    result = await generate_experience(
        hub,
        template,
        shots=[],
        num_participants=2,
        transcript=Transcript(),
        seed=1,
        max_attempts=1,
        framed=framed,
    )
    assert [p.attributes for p in result.participants] == [list(p.attributes) for p in people]
    assert result.participants[1].age == data["participants"][1]["age"]


def test_reused_groups_one_conversation_per_group() -> None:
    source = build_persona_source(PersonaSourceConfig(source="reused"), load_names(), seed=0)
    sizes = [source.group_size(i) for i in range(5)]
    assert sizes == [
        2,
        3,
        2,
        4,
        2,
    ]  # group size overrides the scenario; cycles after the last group
    first = source.draw(0, 99)
    assert first is not None and len(first) == 2
    assert first[0].attributes[0] == "I love hiking in the mountains."
    assert [p.origin for p in first] == ["pc-01/0", "pc-01/1"]
    assert len({p.name for p in source.draw(3, 0) or []}) == 4


def test_generated_mode_draws_nothing() -> None:
    assert build_persona_source(PersonaSourceConfig(), load_names(), seed=0).draw(0, 3) is None


def test_bad_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "hub.jsonl"
    path.write_text('{"persona": "A retired sailor who paints boats."}\n{"text": "wrong key"}\n')
    with pytest.raises(
        ConfigError, match=r"hub.jsonl:2: field 'persona': required field is missing"
    ):
        build_persona_source(
            PersonaSourceConfig(source="sampled", hub="jsonl", jsonl=str(path)), [], seed=0
        )
