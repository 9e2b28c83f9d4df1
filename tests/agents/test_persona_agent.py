"""Persona agents: identifier-safe names, system messages rendered from the template."""

from __future__ import annotations

from agents.persona_agent import build_persona_agent
from agents.schemas import Experience
from orchestrator.config.prompt_files import load_prompt
from tests.helpers import replay


def build(experience: Experience, index: int, style: str = "short"):
    data = experience.model_dump()
    data["participants"][index]["name"] = "María José"
    data["relations"][0]["person_a"] = "María José"
    data["starter"]["speaker"] = "María José"
    experience = Experience.model_validate(data)
    return build_persona_agent(
        experience.participants[index], experience, template=load_prompt("persona_agent"),
        model_client=replay(["hi"]), reply_style=style, max_reply_words=25,
    )


def test_persona_agent_has_slug_name_and_persona_in_system_message(experience: Experience) -> None:
    agent = build(experience, 0)
    assert agent.name == "Maria_Jose"
    system = agent._system_messages[0].content
    assert "You are María José, 34 years old" in system
    assert "Tomas" in system and "Aisha" in system
    assert experience.situation in system
    assert "Never say you are an AI" in system
    assert "at most 25 words" in system
    assert agent.description.startswith("María José (34)")


def test_chatty_mode_has_no_length_cap(experience: Experience) -> None:
    assert "at most" not in build(experience, 0, style="chatty")._system_messages[0].content


def test_fresh_agents_do_not_share_context(experience: Experience) -> None:
    first, second = build(experience, 1), build(experience, 1)
    assert first is not second and first._model_context is not second._model_context
