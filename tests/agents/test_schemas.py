"""Experience validation: structural rules in the schema, cross-field rules in experience_problems."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from agents.schemas import (
    Experience,
    canonical_experience,
    experience_problems,
    experience_schema,
    speaker_choice_schema,
)


def mutate(experience: Experience, **changes: object) -> Experience:
    data = experience.model_dump()
    data.update(changes)
    return Experience.model_validate(data)


def test_valid_experience_has_no_problems(experience: Experience) -> None:
    assert experience_problems(experience, 3) == []


def test_duplicate_names_rejected(experience: Experience) -> None:
    data = experience.model_dump()
    data["participants"][1]["name"] = "lena"
    problems = experience_problems(Experience.model_validate(data))
    assert any("duplicate participant names" in p for p in problems)


def test_starter_speaker_must_be_participant(experience: Experience) -> None:
    bad = mutate(experience, starter={"speaker": "Zed", "text": "hi"})
    assert any("starter.speaker 'Zed' is not a participant" in p for p in experience_problems(bad))


def test_blank_fields_and_strangers_in_relations(experience: Experience) -> None:
    data = experience.model_dump()
    data["topic"] = "   "
    data["relations"][0]["person_b"] = "Nobody"
    problems = experience_problems(Experience.model_validate(data))
    assert "topic is empty" in problems
    assert any("'Nobody', who is not a participant" in p for p in problems)


def test_wrong_participant_count(experience: Experience) -> None:
    assert "expected 4 participants, got 3" in experience_problems(experience, 4)


def test_schema_bounds_lists_and_strings() -> None:
    schema = experience_schema(3).model_json_schema()
    participants = schema["properties"]["participants"]
    assert (participants["minItems"], participants["maxItems"]) == (3, 3)
    person = schema["$defs"]["Participant"]["properties"]
    assert person["qualities"]["maxItems"] == 4
    assert person["qualities"]["items"]["maxLength"] == 40
    assert person["lifestyle"]["maxLength"] > 0


def test_pinned_names_become_constants() -> None:
    model = experience_schema(2, ["Ana", "Bo"])
    text = json.dumps(model.model_json_schema())
    assert '"const": "Ana"' in text and '"const": "Bo"' in text
    with pytest.raises(ValidationError):
        model.model_validate({"participants": [], "relations": [], "situation": "s", "topic": "t",
                              "starter": {"speaker": "Zed", "text": "x"}})


def test_extra_fields_rejected(experience: Experience) -> None:
    data = experience.model_dump()
    data["mood"] = "happy"
    with pytest.raises(ValidationError):
        Experience.model_validate(data)


def test_canonical_fixes_starter_spelling(experience: Experience) -> None:
    fixed = canonical_experience(mutate(experience, starter={"speaker": " lena ", "text": "Hello"}))
    assert fixed.starter.speaker == "Lena"


@pytest.mark.parametrize(("text", "kept"), [
    ("Did you see the oven? I'm going to start my family and", "Did you see the oven?"),
    ("Morning! " + "We could fix the oven ourselves if we " * 6, "Morning!"),  # filled the limit
    ("I'm going to start my family and", "I'm going to start my family and"),  # nothing whole: rules judge it
    ("Did you see the oven? Come look", "Did you see the oven? Come look"),  # finished, just unpunctuated
])
def test_canonical_ends_a_cut_off_starter_at_its_last_whole_sentence(experience: Experience, text: str,
                                                                      kept: str) -> None:
    text = text[:200]
    fixed = canonical_experience(mutate(experience, starter={"speaker": "Lena", "text": text}))
    assert fixed.starter.text == kept


def test_canonical_ends_cut_off_persona_descriptions_too(experience: Experience) -> None:
    data = experience.model_dump()
    data["participants"][0]["speech_style"] = ("Chopping the tail is not just a means to control your body. "
                                               "When you see a child " * 3)[:120]
    data["participants"][0]["memory"]["recent"] = "Her oven broke. She called Tomas and"
    data["relations"][0]["relation"] = "husband; she has a second son with him now. He is still thinking about the"
    fixed = canonical_experience(Experience.model_validate(data))
    assert fixed.relations[0].relation == "husband; she has a second son with him now."
    assert fixed.participants[0].speech_style == "Chopping the tail is not just a means to control your body."
    assert fixed.participants[0].memory.recent == "Her oven broke."
    assert fixed.participants[1] == experience.participants[1]  # finished text is left alone


def test_speaker_choice_schema_is_an_enum() -> None:
    model = speaker_choice_schema(["A", "B"])
    assert model.model_json_schema()["properties"]["next_speaker"]["enum"] == ["A", "B"]
    with pytest.raises(ValidationError):
        model.model_validate_json('{"next_speaker": "C"}')
