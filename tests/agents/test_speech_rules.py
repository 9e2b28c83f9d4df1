"""Is a line speech? Each rule of agents/speech_rules.py on hand-made lines that break it and
lines that must pass (the clean conversation of the critic fixture passes every rule)."""

from __future__ import annotations

import json

import pytest

from agents.speech_rules import (
    fragment,
    opening,
    repeated_opening,
    roll_call,
    self_address,
    speech_problems,
    stage_text,
    unquoted,
    whole_sentences,
)
from tests.helpers import FIXTURES

NAMES = ["Bao", "Joy", "Diego", "Nasrin", "Giulia", "Camille"]
FIXTURE = json.loads((FIXTURES / "critic_conversations.json").read_text())
CLEAN = FIXTURE["conversations"]["clean"]
CLEAN_NAMES = [p["name"] for p in FIXTURE["experience"]["participants"]]


@pytest.mark.parametrize("turn", CLEAN, ids=lambda t: t["text"][:30])
def test_every_line_of_a_clean_conversation_is_speech(turn: dict[str, str]) -> None:
    assert speech_problems(turn["text"], speaker=turn["speaker"], names=CLEAN_NAMES) == {}


def test_clean_conversation_repeats_no_opening() -> None:
    lines = [t["text"] for t in CLEAN]
    assert all(repeated_opening(line, lines[:i], CLEAN_NAMES) is None for i, line in enumerate(lines))


@pytest.mark.parametrize("line", ["Situation 2.", "Situation 3", "Scene: a kitchen.", "Act II.",
                                  "Situation 21, you can speak about your family.", "*smiles* Sure.",
                                  "(laughs)", "[pause]", "Bao nods.", "Joy smiles and says hello.",
                                  "She sighs.", "2.", "...", "(Nikhil smiles) Ah, you are so creative.",
                                  "(Nikhil's smile grows wider) I'm glad you're here.",
                                  "Camille and Nasrin smiled at each other, as if the world was a dream.",
                                  "Bao and Joy laughed at the joke.",
                                  "Diego's gaze drops to the floor, and he looks at you.",
                                  "You know. Joy's voice cracks with tears as she speaks.",
                                  "Bao and Diego's eyes crinkled as she smiled.",
                                  "A smile from a friend.", "A big hug.", "Another nod.",
                                  "Joy (smiling) oh my friend, you are so brave.",
                                  "Here you go... (smiling, with a warm smile) Hope that helps.",
                                  "It was (sighs) a long day.",
                                  "Bao, Diego and Joy smiling. You're so glad your brother loves you!"])
def test_stage_text_is_not_speech(line: str) -> None:
    assert stage_text(line, NAMES) is not None


@pytest.mark.parametrize("line", ["The scene at the station was chaos.", "Bao said she'd come later.",
                                  "I smiled when I saw it.", "Topics like that bore me.",
                                  "Joy looks great today, doesn't she?", "My situation is simple: no money.",
                                  "Joy, I laughed so hard at your story.", "I told Bao (my cousin) about it.",
                                  "Joy and I laughed about it all night.", "Joy's idea is the best one.",
                                  "I love Bao's smile.", "A smile costs nothing, you know.",
                                  "A hug would fix everything right now, honestly.",
                                  "We went hiking (something I love) on Sunday.",
                                  "Bao, Diego, smile for the photo!",
                                  "Joy is 21 years old today!", "Bao and Joy, 40 years of friendship, talking."])
def test_lines_that_mention_stage_words_are_still_speech(line: str) -> None:
    assert stage_text(line, NAMES) is None


def test_a_lone_word_is_a_fragment_and_two_words_are_a_line() -> None:
    assert fragment("Santupulada.") is not None
    assert fragment("Sinabulá!") is not None
    assert fragment("Sounds good.") is None


@pytest.mark.parametrize("line", ["Nasrin, Giulia and Camille.", "Joy.", "Bao and Diego, brother.", "Bao, Joy.",
                                  "Bao, brother.", "Joy and Diego, the parents of Bao.",
                                  "Joy and Diego, siblings with a love for their school's history.",
                                  "Bao and Joy, the best friends of Nasrin, walk in the park.",
                                  "Bao and Diego, Joy's team of superheroes.",
                                  "Nasrin, Giulia and Camille, the new students from Lyon",
                                  "Bao and Joy, our neighbours from the third floor."])
def test_a_line_of_names_is_a_roll_call(line: str) -> None:
    assert roll_call(line, NAMES) is not None


@pytest.mark.parametrize("line", ["Hi Bao!", "Bao, please.", "Nasrin and Giulia should decide.",
                                  "Bao, my brother is here.", "Joy is my best friend.",
                                  "Thanks, Joy and Diego.", "Where did everyone go?",
                                  "Joy and Diego, I think siblings should share.",
                                  "Joy and Diego, my friends, welcome!",
                                  "Bao and Diego, the best team ever!", "Bao and Diego, the bus is here.",
                                  "Bao and Diego, Joy's waiting outside.", "Bao and Diego, your tea's getting cold.",
                                  "Bao and Diego, come and see.", "Bao and Diego, the kettle, now."])
def test_greetings_and_sentences_with_names_are_not_roll_calls(line: str) -> None:
    assert roll_call(line, NAMES) is None


@pytest.mark.parametrize(("speaker", "line"), [
    ("Joy", "Bao and Joy, I'm so glad you came."),
    ("Bao", "Dear Bao, I can see you're going through a tough time."),
    ("Joy", "Thank you, Joy."),
    ("Diego", "Joy and Diego are having a wonderful day."),
    ("Joy", "Hey Joy, what now?"),
    ("Joy", "And Joy has always been such an amazing friend for me."),
    ("Joy", "I've always been so proud of Joy's passion."),
])
def test_a_speaker_addressing_themselves_is_caught(speaker: str, line: str) -> None:
    assert self_address(line, speaker, NAMES) is not None


@pytest.mark.parametrize(("speaker", "line"), [
    ("Joy", "Bao and Diego, I'm so glad you came."),
    ("Bao", "I totally understand, Joy and Diego."),
    ("Joy", "I'm Joy, by the way."),
    ("Bao", "Okay, so Joy, you have twelve minutes."),
    ("Joy", "My name is Joy, and this is Bao."),
    ("Joy", "Call me Joy."),
    ("Joy", "My heart is full of joy today."),
])
def test_addressing_others_is_fine(speaker: str, line: str) -> None:
    assert self_address(line, speaker, NAMES) is None


def test_a_family_name_shared_with_another_person_is_not_self_address() -> None:
    names = ["Amara Okafor", "Chidi Okafor"]
    assert self_address("Thanks, Okafor.", "Amara Okafor", names) is None
    assert self_address("Thanks, Amara.", "Amara Okafor", names) is not None


def test_opening_skips_a_leading_vocative() -> None:
    assert opening("Bao, I understand your point.", NAMES) == ("i", "understand", "your")
    assert opening("Oh Joy, I see it now.", NAMES) == ("i", "see", "it")
    assert opening("Well, I think so.", NAMES) == ("well", "i", "think")
    assert opening("Sure thing.", NAMES) == ("sure", "thing")  # a two-word line is its own opening
    assert opening("Sure.", NAMES) == ()  # too short to have an opening


def test_intensifiers_do_not_make_an_opening_new() -> None:
    assert opening("Bao, I completely understand your point.", NAMES) == ("i", "understand", "your")
    said = ["I'm glad to hear it."]
    assert repeated_opening("I'm so glad to hear that.", said, NAMES) is not None
    assert repeated_opening("I'm very glad to hear that!", said, NAMES) is not None
    assert repeated_opening("I'm sorry to hear that.", said, NAMES) is None


def test_a_two_word_line_repeated_as_an_opening_is_caught() -> None:
    assert repeated_opening("Nice try. I'd love to do something amazing.", ["nice try."], NAMES) is not None
    assert repeated_opening("Nice try.", ["Nice try, but no."], NAMES) is not None
    assert repeated_opening("Nice weather today, isn't it?", ["Nice try."], NAMES) is None


def test_an_opening_repeated_from_an_earlier_line_is_caught() -> None:
    earlier = ["I'm glad to hear that. This shows how much you care.", "What about the roof?"]
    assert repeated_opening("I'm glad to hear that. This shows how brave you are.", earlier, NAMES) is not None
    assert repeated_opening("Joy, I'm glad to hear it.", earlier, NAMES) is not None
    assert repeated_opening("Glad to hear it, honestly.", earlier, NAMES) is None


@pytest.mark.parametrize(("line", "said"), [
    ('"Dalia, I\'m glad you\'re here."', "Dalia, I'm glad you're here."),
    ("\u201cYes, sure.\u201d", "Yes, sure."),
    ('"Hi," she said, "come in."', '"Hi," she said, "come in."'),  # quotes inside: a quotation, kept
    ("'Tis the season.", "'Tis the season."),
])
def test_a_line_wrapped_in_quotation_marks_loses_them(line: str, said: str) -> None:
    assert unquoted(line) == said


@pytest.mark.parametrize(("text", "whole"), [
    ("Hello there. How are you and", "Hello there."),
    ('He said "go." Then we', 'He said "go."'),
    ("Wait... what? I", "Wait... what?"),
    ("It costs 3.5 euros and", ""),  # a decimal point ends no sentence
    ("no end here", ""),
])
def test_whole_sentences_drop_the_unfinished_one(text: str, whole: str) -> None:
    assert whole_sentences(text) == whole


@pytest.mark.parametrize("line", ["Joy (removing the person's face color) 21 years old, smiling.",
                                  "Bao and Diego (removing the person with the face color) 21 years of age, talking.",
                                  "Joy (removing a person's face color) 18 years old."])
def test_a_character_card_read_out_is_stage_text(line: str) -> None:
    found = stage_text(line, NAMES)
    assert found is not None and "character card" in found
