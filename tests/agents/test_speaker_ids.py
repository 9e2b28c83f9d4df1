"""Agent identifiers for names in any script: readable when the name has ASCII letters, a stable
hash otherwise, always distinct within a conversation and valid for AutoGen and OpenAI."""

from __future__ import annotations

import re

import pytest

from agents.schemas import experience_problems
from agents.speaker_ids import id_of, speaker_id, speaker_ids
from tests.helpers import load_experience

OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
SCRIPTS = ["李雷", "Ёжик Петров", "نور الهدى", "שירה כהן", "Ζωή", "สมชาย", "विजय", "!!", "...", "—", "🙂"]


def _valid(identifier: str) -> bool:
    return identifier.isidentifier() and bool(OPENAI_NAME.match(identifier)) and len(identifier) <= 40


@pytest.mark.parametrize(("name", "expected"), [("María José", "Maria_Jose"), ("Grandma Leela", "Grandma_Leela"),
                                                ("42", "P_42"), ("Zoë", "Zoe"), ("  Anna-Lena ", "Anna_Lena")])
def test_names_with_ascii_letters_keep_a_readable_identifier(name: str, expected: str) -> None:
    assert speaker_id(name) == expected and _valid(expected)


def test_names_in_other_scripts_or_punctuation_stay_distinct_and_valid() -> None:
    ids = speaker_ids(SCRIPTS)
    assert list(ids) == SCRIPTS
    assert len(set(ids.values())) == len(SCRIPTS)
    assert all(_valid(i) for i in ids.values())
    assert ids == speaker_ids(SCRIPTS)  # stable: no randomness, no dependence on the process
    assert speaker_ids(["李雷", "Anna"])["李雷"] == ids["李雷"]  # nor on the others present


def test_names_that_share_a_readable_identifier_get_their_hash() -> None:
    ids = speaker_ids(["Zoë", "Zoe", "ZOE", "Ana", "Aña"])
    assert len({i.casefold() for i in ids.values()}) == 5
    assert all(i.startswith(("Zoe_", "ZOE_", "Ana_")) and _valid(i) for i in ids.values())


def test_the_group_chats_own_source_name_is_never_a_persona_identifier() -> None:
    both = speaker_ids(["user", "User"])
    assert both == {"user": speaker_ids(["user"])["user"], "User": speaker_ids(["User"])["User"]}
    assert all(i.casefold() != "user" for i in speaker_ids(["user", "User"]).values())


def test_id_of_matches_names_as_the_experience_checks_do() -> None:
    ids = speaker_ids(["李雷", "Anna"])
    assert id_of(" 李雷 ", ids) == ids["李雷"] and id_of("anna", ids) == "Anna"


def test_an_experience_with_names_that_used_to_collide_is_usable() -> None:
    experience = load_experience()
    data = experience.model_dump()
    renames = dict(zip([p["name"] for p in data["participants"]], ["李雷", "Ёжик", "!!"], strict=False))
    for person in data["participants"]:
        person["name"] = renames[person["name"]]
    data["starter"]["speaker"] = renames[data["starter"]["speaker"]]
    for relation in data["relations"]:
        relation["person_a"], relation["person_b"] = renames[relation["person_a"]], renames[relation["person_b"]]
    assert experience_problems(type(experience).model_validate(data)) == []
