"""The offline language-drift check: script and common-word profile, one-sided by design."""

from __future__ import annotations

import json

import pytest

from agents.language_check import dominant_language, language_drift, script
from tests.helpers import FIXTURES

FIXTURE = json.loads((FIXTURES / "critic_conversations.json").read_text())
ENGLISH = " ".join(t["text"] for t in FIXTURE["conversations"]["clean"])
SPANISH = ("Mi abuela siempre cocinaba los domingos. Yo creo que es muy bonito, pero no tengo tiempo. "
           "Vamos a la casa de ella.")


def test_scripts() -> None:
    assert script("Hello there")[0] == "LATIN"
    assert script("Привет, как дела?")[0] == "CYRILLIC"
    assert script("我很高兴见到你")[0] == "CJK"
    assert script("こんにちは、元気ですか")[0] == "CJK"  # kana and kanji are one family
    assert script("12345 !!")[0] is None


def test_dominant_language() -> None:
    assert dominant_language(ENGLISH) == "en"
    assert dominant_language(SPANISH) == "es"
    assert dominant_language("Okay.") is None  # too little to say


@pytest.mark.parametrize("line", [
    "Je pense que c'est une très bonne idée pour nous.",
    "Sí, claro, mi abuela también cocinaba así.",
    "Ich glaube nicht, dass wir das schaffen.",
    "Io non sono sicuro che sia una buona idea.",
    "Eu acho que isso é muito bom para você.",
    "Ik denk dat het een goed idee is.",
    "Я думаю, что это хорошая идея.",
    "我觉得这个主意很好。",
])
def test_a_line_in_another_language_drifts_from_an_english_conversation(line: str) -> None:
    assert language_drift(line, ENGLISH) is not None


@pytest.mark.parametrize("line", [
    "Let's meet at the café, c'est la vie.",
    "Absolutely wonderful idea!",
    "Gracias, Joy!",
    "We had paella con mariscos in Valencia last year.",
    "The fiesta in Barcelona was amazing, you would love it.",
    "Ja, I know.",
    "My grandmother made the best tortilla de patatas.",
])
def test_english_with_borrowed_words_or_too_few_words_does_not_drift(line: str) -> None:
    assert language_drift(line, ENGLISH) is None


@pytest.mark.parametrize("turn", FIXTURE["conversations"]["clean"], ids=lambda t: t["text"][:30])
def test_clean_conversation_lines_do_not_drift(turn: dict[str, str]) -> None:
    assert language_drift(turn["text"], ENGLISH) is None


def test_the_reference_language_is_whatever_the_conversation_speaks() -> None:
    assert language_drift("Sí, y también tengo una idea para la casa.", SPANISH) is None
    assert language_drift("I think we should just go home now, honestly.", SPANISH) is not None
