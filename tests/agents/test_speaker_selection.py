"""Speaker selection never yields an invalid name, never repeats a speaker, never loops."""

from __future__ import annotations

import random

from autogen_agentchat.messages import TextMessage

from agents.speaker_selection import eligible_speakers, least_recent_speaker, spoken_turns
from orchestrator.config.prompt_files import load_prompt
from orchestrator.stages.llm_selector import make_constrained_selector
from orchestrator.store.transcript import Transcript
from tests.helpers import replay

ROSTER = ["Ana", "Bo", "Cy"]


def thread(*speakers: str) -> list[TextMessage]:
    return [TextMessage(source="user", content="Situation")] + [
        TextMessage(source=s, content=f"line {i}") for i, s in enumerate(speakers)
    ]


def test_orchestration_messages_are_not_turns() -> None:
    assert spoken_turns(thread("Ana", "Bo"), ROSTER) == [("Ana", "line 0"), ("Bo", "line 1")]


def test_previous_speaker_is_never_eligible() -> None:
    assert eligible_speakers(thread("Ana"), ROSTER) == ["Bo", "Cy"]
    assert eligible_speakers(thread("Ana", "Bo"), ROSTER) == ["Ana", "Cy"]


def test_silent_member_gets_the_floor() -> None:
    # Cy has been silent for a whole round of three turns: only Cy may speak.
    assert eligible_speakers(thread("Ana", "Bo", "Ana"), ROSTER) == ["Cy"]


def test_two_people_alternate() -> None:
    assert eligible_speakers(thread("Ana"), ["Ana", "Bo"]) == ["Bo"]
    assert eligible_speakers(thread("Ana", "Bo"), ["Ana", "Bo"]) == ["Ana"]


def test_least_recent_speaker_prefers_never_spoken_then_roster_order() -> None:
    assert least_recent_speaker(thread("Ana", "Bo"), ["Ana", "Cy"], ROSTER) == "Cy"
    assert least_recent_speaker(thread("Bo", "Ana"), ["Bo", "Cy"], ROSTER) == "Cy"
    assert least_recent_speaker(thread("Cy", "Bo", "Ana"), ["Bo", "Cy"], ROSTER) == "Cy"


async def test_constrained_selector_valid_choice_fallback_and_record() -> None:
    template = load_prompt("group_chat", ("selector",))
    transcript = Transcript()
    # 1st pick valid; 2nd and 3rd picks are garbage (-> fallback after 2 attempts).
    client = replay(['{"next_speaker": "Cy"}', "Bo!!", '{"next_speaker": "Ana"}'])
    select = make_constrained_selector(
        roster=ROSTER, descriptions={n: n for n in ROSTER}, client=client, template=template,
        transcript=transcript, max_attempts=2,
    )
    assert await select(thread("Ana")) == "Cy"
    # Previous speaker Ana: "Bo!!" is malformed, then "Ana" is not an allowed candidate.
    chosen = await select(thread("Bo", "Ana"))
    assert chosen == "Cy"  # least recent of the eligible (Bo, Cy)
    decisions = [e for e in transcript.events if e["event"] == "speaker_selected"]
    assert [d["method"] for d in decisions] == ["llm", "fallback"]
    assert decisions[1]["candidates"] == ["Bo", "Cy"] and len(decisions[1]["failures"]) == 2


async def test_selector_never_invalid_or_repeating_on_random_model_output() -> None:
    template = load_prompt("group_chat", ("selector",))
    rng = random.Random(7)
    garbage = ['{"next_speaker": "Ana"}', '{"next_speaker": "Bo"}', '{"next_speaker": "Cy"}', "nonsense", "{}"]
    client = replay([rng.choice(garbage) for _ in range(400)])
    select = make_constrained_selector(
        roster=ROSTER, descriptions={}, client=client, template=template,
        transcript=Transcript(), max_attempts=2,
    )
    speakers = ["Ana"]
    for _ in range(60):
        nxt = await select(thread(*speakers))
        assert nxt in ROSTER and nxt != speakers[-1]
        speakers.append(nxt)
    # No one is starved: anyone silent for a round must speak next, so every 4 consecutive
    # turns contain all three people.
    for i in range(len(speakers) - 3):
        assert set(speakers[i : i + 4]) == set(ROSTER)
