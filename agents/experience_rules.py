"""Degenerate experiences: schema-valid output that no reader would accept. Checked after
decoding beside the cross-field rules (agents/schemas.py `experience_findings`); a grammar cannot
express them. Each rule is a small pure function returning its problems (empty: none):

- `debris`: template or JSON left in a field ("{{", "{{', 'topic:Sitting in...", "person_a"),
  a placeholder value ("string", "N/A"), a value with no letters at all (a quality ","), or one
  that opens with stray punctuation (")This conversation...");
- `clones`: two participants with the same value in a whole field (speech style, lifestyle,
  a memory, the list of qualities when it has two or more): the same person twice under two names;
  or three or more whose field opens with the same four words for every one of them, or who all
  have the same qualities (a single one included: "dazzling" for everyone);
- `not_a_sentence`: a situation or topic that is no text of its own: too few words, no word
  beyond names and function words, a cut-off ending (a dangling word, or the whole length limit
  filled without ending the sentence), or the topic repeating the situation;
- `relation_names_only`: a relation that only restates names ("Nasrin and Giulia");
- `starter_not_speech`: a starter that is stage text, a lone word, a roll call or self-address
  (agents/speech_rules.py: the same rules a reply must pass);
- `shot_copy`: a situation, topic or starter copied word for word from a shot in the prompt
  (the example leaking into the output; persona fields are left alone, since sampled personas
  come from a library the shots may share).

Word lists (schema field names, placeholders, function words) are data in agents/word_lists.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from agents.speech_rules import name_words, speech_problems
from agents.word_lists import common_words, word_set, words

if TYPE_CHECKING:  # schemas imports this module; the type is only needed for annotations
    from agents.schemas import Experience

# Braces, brackets, angle brackets, pipes, backslashes and backticks are never part of a
# persona's description; a quote-comma-quote is a JSON list or dict torn open.
_DEBRIS_CHARS = re.compile(r"[{}\[\]<>|\\`]")
_TORN_JSON = re.compile(r"""['"]\s*[,:]\s*['"]""")
_SNAKE_CASE = re.compile(r"\b[a-z]+_[a-z_]+\b")
# an identifier or a token id, not something said of a person: "Myself-15023497682" (a year, a
# price or a house number has fewer digits)
_DIGIT_RUN = re.compile(r"\d{7,}")
# the tail of something torn off before the value: ")This conversation...", ". They don't..."
_STRAY_OPENING = re.compile(r"^\s*[),.;:!?}\]]")
# Words every participant's field may not open with alike (clone_problems): four, so that a
# common start ("She is a", "He loves to") stays allowed for three people and more.
CLONE_OPENING_WORDS = 4
# ... unless one of them is only a shorter opening of at least this many words, the template itself
CLONE_TEMPLATE_MIN_WORDS = 3
# A situation or topic sharing this much of its words with a shot's is that shot's, reworded;
# below NEAR_COPY_MIN_WORDS words, shared words are common phrasing ("Moving house.").
NEAR_COPY_SHARE = 0.8
NEAR_COPY_MIN_WORDS = 5
# A situation needs a few words to set a scene; a topic can be a short phrase ("Moving abroad").
MIN_WORDS = {"situation": 4, "topic": 2}
# Words no sentence or phrase ends on: a value that ends on one was cut off. (Prepositions and
# object pronouns can end one: "who to talk to", "whether to tell her".)
_SENTENCE_ENDS = {".", "!", "?", '"', "'", ")", "\u2026"}
_DANGLING = {"and", "or", "but", "the", "a", "an", "because", "which", "my", "our", "your", "their"}


def text_fields(experience: Experience) -> Iterator[tuple[str, str]]:
    """(field path, value) of every free-text field, names included."""
    for i, person in enumerate(experience.participants):
        yield f"participants[{i}].name", person.name
        for j, quality in enumerate(person.qualities):
            yield f"participants[{i}].qualities[{j}]", quality
        yield f"participants[{i}].lifestyle", person.lifestyle
        yield f"participants[{i}].speech_style", person.speech_style
        yield f"participants[{i}].memory.recent", person.memory.recent
        yield f"participants[{i}].memory.long_term", person.memory.long_term
    for i, relation in enumerate(experience.relations):
        yield f"relations[{i}].relation", relation.relation
    yield "situation", experience.situation
    yield "topic", experience.topic
    yield "starter.text", experience.starter.text


def debris(value: str, *, is_name: bool = False) -> str | None:
    """Why a field's value is template or JSON debris, or None. A name may join its words with
    an underscore (a seed shot has "Grandma_Leela"), no other field may."""
    lowered = value.strip().casefold()
    if lowered in word_set("placeholders"):
        return f"is a placeholder ({value.strip()!r})"
    snake = None if is_name else _SNAKE_CASE.search(lowered)
    found = _DEBRIS_CHARS.search(value) or _TORN_JSON.search(value) or snake or _DIGIT_RUN.search(value)
    if found:
        return f"carries template or JSON debris ({found.group(0)!r} in {value.strip()[:50]!r})"
    for field in word_set("schema_fields"):
        if re.search(rf"(?:^|[\s'\"]){re.escape(field)}\s*:", lowered):
            return f"carries a schema field name ({field + ':'!r} in {value.strip()[:50]!r})"
    if not is_name and not any(char.isalpha() for char in value):
        return f"has no words ({value.strip()[:20]!r})"
    if not is_name and _STRAY_OPENING.match(value):
        return f"opens with stray punctuation ({value.strip()[:30]!r})"
    return None


def debris_problems(experience: Experience) -> list[str]:
    return [f"{path} {why}" for path, value in text_fields(experience)
            if (why := debris(value, is_name=path.endswith(".name")))]


def _key(text: str) -> str:
    return " ".join(words(text))


def clone_problems(experience: Experience) -> list[str]:
    """Two participants sharing a whole field value."""
    people = experience.participants
    fields: dict[str, Callable[[int], str]] = {
        "lifestyle": lambda i: _key(people[i].lifestyle),
        "speech_style": lambda i: _key(people[i].speech_style),
        "memory.recent": lambda i: _key(people[i].memory.recent),
        "memory.long_term": lambda i: _key(people[i].memory.long_term),
        # one quality in common is ordinary ("kind"); the same list of two or more is a copy
        "qualities": lambda i: " | ".join(sorted(_key(q) for q in people[i].qualities))
        if len(people[i].qualities) > 1 else "",
    }
    problems = []
    for field, value in fields.items():
        first_seen: dict[str, int] = {}
        for i in range(len(people)):
            key = value(i)
            if key and key in first_seen:
                j = first_seen[key]
                problems.append(f"participants[{j}] ({people[j].name}) and participants[{i}] ({people[i].name}) "
                                f"have the same {field}")
            first_seen.setdefault(key, i)
    # the same single quality for everyone ("dazzling" five times): one person under several names
    qualities = {tuple(sorted(_key(q) for q in person.qualities)) for person in people}
    if len(people) >= 3 and len(qualities) == 1 and all(next(iter(qualities))):
        problems.append(f"all {len(people)} participants have the same qualities ({', '.join(next(iter(qualities)))})")
    # near-clones: three or more people whose field opens alike for every one of them ("A new
    # adventure: visiting the countryside..." five times) are one template filled five ways.
    # Two people may share an opening by chance; all of them do not.
    # A field shorter than that ("Polite and serious.") that every other one opens with is the
    # template itself, the others being it plus an ending.
    for field, value in fields.items():
        field_words = [value(i).split() for i in range(len(people))]
        opening = min(CLONE_OPENING_WORDS, *map(len, field_words))
        heads = {tuple(each[:opening]) for each in field_words}
        if len(people) >= 3 and len(heads) == 1 and opening >= CLONE_TEMPLATE_MIN_WORDS:
            problems.append(f"all {len(people)} participants' {field} open with the same words "
                            f"({' '.join(next(iter(heads)))!r})")
    return problems


def _content_words(text: str, names: set[str]) -> list[str]:
    """Words that carry content: not a name, not a function word, not a stage or field label."""
    skip = names | common_words() | word_set("connectors") | word_set("stage_labels") | word_set("schema_fields")
    return [w for w in words(text)
            if w not in skip and w.removesuffix("'s") not in names and any(c.isalpha() for c in w)]


def sentence_problems(experience: Experience) -> list[str]:
    """A situation or topic that is not a sentence (or phrase) of its own."""
    names = name_words(p.name for p in experience.participants)
    problems = []
    for field in ("situation", "topic"):
        value: str = getattr(experience, field)
        tokens = words(value)
        if len(tokens) < MIN_WORDS[field]:
            problems.append(f"{field} has {len(tokens)} word(s), not a sentence ({value.strip()[:50]!r})")
        elif not _content_words(value, names):
            problems.append(f"{field} holds only names and function words ({value.strip()[:50]!r})")
        elif cut := cut_off(value, _max_length(field)):
            problems.append(f"{field} {cut} ({value.strip()[-40:]!r})")
    if _key(experience.situation) and _key(experience.situation) == _key(experience.topic):
        problems.append("topic repeats the situation word for word")
    return problems


def cut_off(value: str, max_length: int) -> str | None:
    """Why a text value was cut off rather than finished, or None: it ends on a word no sentence
    ends on, or it fills its length limit (ended by the grammar, even with a full stop: the
    topic's one-sentence pattern forces one there)."""
    tokens = words(value)
    if tokens and (tokens[-1] in _DANGLING or value.rstrip()[-1:] in {",", ";", ":", "-"}):
        return "is cut off"
    if len(value) >= max_length or (len(value) >= max_length - 2 and value.rstrip()[-1:] not in _SENTENCE_ENDS):
        return "is cut off at the length limit"
    return None


def _max_length(field: str) -> int:
    """The schema's length limit of an Experience text field (a value that fills it and does not
    end a sentence was cut off by the grammar, not finished by the model)."""
    from agents.schemas import Experience  # a cycle at import time: schemas imports this module

    limits = [m.max_length for m in Experience.model_fields[field].metadata if hasattr(m, "max_length")]
    return int(limits[0]) if limits else 10**9


def relation_problems(experience: Experience) -> list[str]:
    """Relations that only restate names ("Nasrin and Giulia") say nothing about the relation."""
    names = name_words(p.name for p in experience.participants)
    return [f"relations[{i}].relation only restates names ({rel.relation.strip()[:50]!r})"
            for i, rel in enumerate(experience.relations)
            if words(rel.relation) and not _content_words(rel.relation, names)]


def starter_problems(experience: Experience) -> list[str]:
    names = [p.name for p in experience.participants]
    found = speech_problems(experience.starter.text, speaker=experience.starter.speaker, names=names)
    return [f"starter.text {why}" for why in found.values()]


def shot_copy_problems(experience: Experience, shots: Sequence[Experience]) -> list[str]:
    """The frame (situation, topic, starter) copied word for word from a shot, or the situation or
    topic copied with a word or two changed or added: NEAR_COPY_SHARE of the shorter one's words
    are the other's ("Whether Arjun may go to the cycling trip." from "... go on the cycling
    trip.", "Family dinner on a Friday night." from the shot's longer situation)."""
    problems = []
    for field in ("situation", "topic", "starter"):
        def text(exp: Experience, field: str = field) -> str:
            return _key(exp.starter.text if field == "starter" else getattr(exp, field))
        if text(experience) and any(text(shot) == text(experience) for shot in shots):
            problems.append(f"{field} is copied word for word from a shot")
        elif field != "starter":
            value = getattr(experience, field)
            if any(_near_copy(value, getattr(shot, field)) for shot in shots):
                problems.append(f"{field} is a shot's {field} with a few words changed ({value[:50]!r})")
    return problems


def _near_copy(value: str, shot_value: str) -> bool:
    mine, theirs = set(words(value)), set(words(shot_value))
    shorter = min(len(mine), len(theirs))
    return shorter >= NEAR_COPY_MIN_WORDS and len(mine & theirs) >= NEAR_COPY_SHARE * shorter


# rule name -> check; experience_findings (agents/schemas.py) runs them all, and shot_copy when
# the shots are known
DEGENERATE_RULES: dict[str, Callable[[Experience], list[str]]] = {
    "debris": debris_problems,
    "clones": clone_problems,
    "not_a_sentence": sentence_problems,
    "relation_names_only": relation_problems,
    "starter_not_speech": starter_problems,
}
