"""Degenerate experiences (agents/experience_rules.py): each rule on a hand-made bad experience
and on the clean ones (fixtures and every seed shot pass every rule)."""

from __future__ import annotations

from typing import Any

import pytest

from agents.experience_rules import DEGENERATE_RULES, debris
from agents.schemas import Experience, experience_findings
from orchestrator.config.prompt_files import load_seed_shots
from tests.helpers import load_experience

CLEAN = [load_experience(), load_experience("foundation/experience_two.json"),
         *load_seed_shots("shots/experiences.yaml")]


def changed(experience: Experience, change: Any) -> Experience:
    data = experience.model_dump()
    change(data)
    return Experience.model_validate(data)


@pytest.mark.parametrize("rule", sorted(DEGENERATE_RULES))
@pytest.mark.parametrize("index", range(len(CLEAN)))
def test_clean_experiences_pass_every_rule(rule: str, index: int) -> None:
    assert DEGENERATE_RULES[rule](CLEAN[index]) == []


@pytest.mark.parametrize("value", ["{{", "{{', 'topic:Sitting in the city of Tokyo", "}, {", "[\"kind\"]",
                                   "Lives in person_a's flat", "topic: moving abroad", "N/A", "string", "<|im_end|>",
                                   ",", "42", ")This conversation has been taken from the chat.",
                                   ". They don't want me to go", "Myself-15023497682"])
def test_template_and_json_debris(value: str) -> None:
    assert debris(value) is not None


@pytest.mark.parametrize("value", ["Runs a small bakery; swims before dawn.",
                                   "Grew up above her parents' corner shop.",
                                   "Quick, practical sentences; jokes when stressed.",
                                   "Five-a-side football (Thursdays).",
                                   "Moved to 1204 Harbour Road in 2019; paid 250000 for the flat."])
def test_ordinary_text_is_not_debris(value: str) -> None:
    assert debris(value) is None


def test_debris_in_any_field_rejects_the_experience(experience: Experience) -> None:
    def situation(d: dict[str, Any]) -> None:
        d["situation"] = "{{"

    def quality(d: dict[str, Any]) -> None:
        d["participants"][1]["qualities"][1] = "}, {"

    assert "debris" in experience_findings(changed(experience, situation))
    found = experience_findings(changed(experience, quality))
    assert found["debris"] == ["participants[1].qualities[1] carries template or JSON debris ('}' in '}, {')"]


def test_a_name_may_join_words_with_an_underscore(experience: Experience) -> None:
    def rename(d: dict[str, Any]) -> None:
        d["participants"][0]["name"] = "Grandma_Leela"
        d["starter"]["speaker"] = "Grandma_Leela"
        for rel in d["relations"]:
            rel["person_a"] = "Grandma_Leela" if rel["person_a"] == "Lena" else rel["person_a"]

    assert "debris" not in experience_findings(changed(experience, rename))


def test_participants_sharing_a_whole_field_are_clones(experience: Experience) -> None:
    def clone(d: dict[str, Any]) -> None:
        d["participants"][2]["speech_style"] = d["participants"][0]["speech_style"].upper()
        d["participants"][2]["qualities"] = list(reversed(d["participants"][1]["qualities"]))

    found = experience_findings(changed(experience, clone))["clones"]
    assert found == ["participants[0] (Lena) and participants[2] (Aisha) have the same speech_style",
                     "participants[1] (Tomas) and participants[2] (Aisha) have the same qualities"]


def test_every_participant_opening_a_field_alike_is_a_near_clone(experience: Experience) -> None:
    def template(d: dict[str, Any]) -> None:
        for person, place in zip(d["participants"], ("the countryside", "a school", "a farm"), strict=True):
            person["lifestyle"] = f"A new adventure: visiting {place} with friends."

    def two_alike(d: dict[str, Any]) -> None:  # two of three opening alike is chance, not a template
        d["participants"][0]["lifestyle"] = "A new adventure: visiting the countryside."
        d["participants"][1]["lifestyle"] = "A new adventure: visiting a farm."

    found = experience_findings(changed(experience, template))["clones"]
    assert found == ["all 3 participants' lifestyle open with the same words ('a new adventure visiting')"]
    assert "clones" not in experience_findings(changed(experience, two_alike))


def test_one_participants_whole_field_opening_every_other_is_a_near_clone(experience: Experience) -> None:
    # read in e4f7689's gate run: four speech styles, one the template and three it plus an ending
    def template(d: dict[str, Any]) -> None:
        for person, ending in zip(d["participants"], ("", " He has a passion for music.", " His hobby is wood."),
                                  strict=True):
            person["speech_style"] = f"Polite and serious.{ending}"

    def short_and_common(d: dict[str, Any]) -> None:  # two words in common are too few to call a copy
        for person, ending in zip(d["participants"], ("", " and slow.", " but warm."), strict=True):
            person["speech_style"] = f"Very polite{ending}"

    found = experience_findings(changed(experience, template))["clones"]
    assert found == ["all 3 participants' speech_style open with the same words ('polite and serious')"]
    assert "clones" not in experience_findings(changed(experience, short_and_common))


def test_everyone_with_the_same_single_quality_is_a_clone(experience: Experience) -> None:
    def dazzling(d: dict[str, Any]) -> None:
        for person in d["participants"]:
            person["qualities"] = ["Dazzling"]

    assert experience_findings(changed(experience, dazzling))["clones"] == [
        "all 3 participants have the same qualities (dazzling)"]


def test_sharing_one_quality_is_not_cloning(experience: Experience) -> None:
    def share(d: dict[str, Any]) -> None:
        d["participants"][2]["qualities"] = ["calm", "funny"]  # Tomas is calm too

    def single(d: dict[str, Any]) -> None:
        d["participants"][1]["qualities"] = d["participants"][2]["qualities"] = ["calm"]  # a list of one

    assert "clones" not in experience_findings(changed(experience, share))
    assert "clones" not in experience_findings(changed(experience, single))


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("situation", "{{", "situation has 0 word(s)"),
    ("situation", "Situation 2.", "situation has 2 word(s)"),
    ("situation", "Lena, Tomas and Aisha are there.", "situation holds only names and function words"),
    ("situation", "Sunday evening in the kitchen with the", "situation is cut off"),
    ("topic", "Manganá", "topic has 1 word(s)"),
    ("topic", "Lena and Aisha", "topic holds only names and function words"),
    ("topic", ("How we can have different ways of " + "doing things in the garden and " * 3)[:120],
     "topic is cut off at the length limit"),
    # the one-sentence grammar ends a run-on topic with a full stop where the limit falls
    ("topic", ("How we can have different ways of " + "doing things in the garden and " * 3)[:119] + ".",
     "topic is cut off at the length limit"),
])
def test_situation_or_topic_that_is_not_a_sentence(experience: Experience, field: str, value: str,
                                                    expected: str) -> None:
    def set_field(d: dict[str, Any]) -> None:
        d[field] = value

    found = experience_findings(changed(experience, set_field))["not_a_sentence"]
    assert any(expected in problem for problem in found), found


def test_topic_repeating_the_situation(experience: Experience) -> None:
    def same(d: dict[str, Any]) -> None:
        d["topic"] = d["situation"]

    found = experience_findings(changed(experience, same))["not_a_sentence"]
    assert "topic repeats the situation word for word" in found


def test_relations_that_only_restate_names(experience: Experience) -> None:
    def names_only(d: dict[str, Any]) -> None:
        d["relations"][0]["relation"] = "Lena and Tomas"
        d["relations"][1]["relation"] = "Lena's friend"

    found = experience_findings(changed(experience, names_only))
    assert found["relation_names_only"] == ["relations[0].relation only restates names ('Lena and Tomas')"]


@pytest.mark.parametrize(("text", "rule"), [("Situation 2.", "stage_text"), ("Tomas, Aisha.", "roll_call"),
                                            ("Hey Lena, you start.", "self_address"), ("Rolls!", "fragment")])
def test_a_starter_that_is_not_speech(experience: Experience, text: str, rule: str) -> None:
    def starter(d: dict[str, Any]) -> None:
        d["starter"]["text"] = text  # Lena speaks it

    found = experience_findings(changed(experience, starter))["starter_not_speech"]
    assert len(found) == 1 and found[0].startswith("starter.text "), found


def test_a_frame_copied_from_a_shot(experience: Experience) -> None:
    shot = load_experience("foundation/experience_two.json")

    def copy_topic(d: dict[str, Any]) -> None:
        d["topic"] = shot.topic

    copied = changed(experience, copy_topic)
    assert experience_findings(copied, shots=[shot])["shot_copy"] == ["topic is copied word for word from a shot"]
    assert "shot_copy" not in experience_findings(copied)  # no shots given: nothing to compare with
    assert experience_findings(experience, 3, shots=[shot]) == {}


@pytest.mark.parametrize(("field", "value", "shot_value", "near"), [
    ("topic", "Whether Arjun may go to the cycling trip.", "Whether Arjun may go on the cycling trip.", True),
    ("topic", "How to help bees in my city; how do they live here in my village.", "How to help bees in the city.",
     True),
    ("situation", "Family dinner on a Friday night.",
     "Family dinner on a Friday night; Arjun has printed a map of the route and put it on the table.", True),
    ("topic", "Whether to sell the old van before winter.", "Whether Arjun may go on the cycling trip.", False),
    ("topic", "Moving to the city.", "Moving to the coast.", False),  # too short to tell a copy from phrasing
])
def test_a_frame_reworded_from_a_shot(experience: Experience, field: str, value: str, shot_value: str,
                                      near: bool) -> None:
    def set_value(d: dict[str, Any]) -> None:
        d[field] = value

    def set_shot_value(d: dict[str, Any]) -> None:
        d[field] = shot_value

    found = experience_findings(changed(experience, set_value), shots=[changed(experience, set_shot_value)])
    assert (f"{field} is a shot's {field} with a few words changed ({value[:50]!r})" in found.get("shot_copy", [])) \
        is near, found
