"""Is a line speech? Rules for the turns a tiny model writes that are not something a person
says: stage text ("Situation 2.", "*smiles*", "Joy nods.", "A big hug."), a lone word
("Santupulada."), a roll call of names ("Nasrin, Giulia and Camille.", "Alinta and Shira,
siblings with...", "Tuan and Shira, Ella's team of superheroes."), a speaker addressing themselves ("Bao and Joy,
I'm so glad..." said by Joy), and an opening that repeats an earlier line's first words ("I'm
glad to hear that..." turn after turn, or "I'm so glad to hear...": intensifiers do not make an
opening new).

Used by the persona reply check (agents/reply_check.py: the reply is sampled again), the `speech`
and `openings` critics (agents/critic_rules.py: the conversation is rejected) and the experience
check of the starter line (agents/experience_rules.py). Pure functions over text, no model; the
word lists are data in agents/word_lists.yaml. Each returns why the line fails, or None.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from agents.word_lists import word_set, words

# Three words are where a habit shows ("I'm glad to", "That's a great"): two would catch
# ordinary openings ("I think"), four let the tic through with one word changed.
OPENING_WORDS = 3
# Punctuation that ends a vocative or a list item: "Bao and Joy, I'm so glad" -> "Bao and Joy".
_SEGMENT = re.compile(r"[,.!?;:()\"\u2014\u2013\u2026]+|\s-\s")
_ASTERISK_ACTION = re.compile(r"\*[^*\n]+\*")
# a line that opens with an aside in brackets: "(laughs)", "(Nikhil smiles) Ah, you are..."
_BRACKETED = re.compile(r"^\s*[(\[][^()\[\]]*[^\W\d_][^()\[\]]*[)\]]")
# an aside anywhere in the line: "Katya (smiling) oh my friend", "Wanjiru (loving) I don't..."
_ASIDE = re.compile(r"[(\[]([^()\[\]]+)[)\]]")
# words that join names to relations without making a sentence: "the parents of Isaac"
_RELATION_GLUE = {"the", "a", "an", "of", "my", "our", "his", "her", "their", "old", "best"}
# what may follow a gesture named as a noun phrase: "A smile from a friend", "A hug for you all"
_GESTURE_TAIL = {"from", "for", "to", "of", "and", "at", "with", "across", "in"}
# how a description of people opens: "Tuan and Shira, Ella's team of superheroes."
_DESCRIPTION_HEADS = {"the", "a", "an", "my", "our", "your", "his", "her", "their"}
# contractions that make a clause: "you're", "we'll", "don't"
_CLAUSE_ENDINGS = ("'re", "'m", "'ll", "'ve", "'d", "n't")
# words before a speaker's own name that introduce them: "I'm Joy", "my name is Joy"
_INTRODUCTIONS = {("i'm",), ("me",), ("it's",), ("i", "am"), ("name", "is"), ("it", "is"), ("this", "is"),
                  ("name's",)}
_NUMBER = re.compile(r"^(?:\d+|[ivx]+)$")
_LABEL_COLON = re.compile(r"^\W*([^\W\d_]+)\s*(?:\d+|[ivx]+)?\s*:")


def name_words(names: Iterable[str]) -> set[str]:
    """The words of the participants' names ("María José" -> maría, josé)."""
    return {word for name in names for word in words(name)}


def _segments(text: str) -> list[list[str]]:
    return [seg for seg in (words(part) for part in _SEGMENT.split(text)) if seg]


def stage_text(text: str, names: Iterable[str] = ()) -> str | None:
    """A label, a stage direction or narration instead of a spoken line."""
    if not any(char.isalpha() for char in text):
        return "has no words, only numbers or symbols"
    tokens = words(text)
    labels = word_set("stage_labels")
    labelled = _LABEL_COLON.match(text.casefold())
    if tokens and tokens[0] in labels and (len(tokens) == 1 or _NUMBER.match(tokens[1]) or labelled):
        return f"is a stage label ({text.strip()[:40]!r})"
    action = _ASTERISK_ACTION.search(text)
    if action:
        return f"describes an action between asterisks ({action.group(0)[:40]!r})"
    if _BRACKETED.match(text):
        return f"opens with a bracketed stage direction ({text.strip()[:40]!r})"
    for aside in _ASIDE.finditer(text):
        head = words(aside.group(1))[:1]
        # a gesture or a manner ("smiling", "loving", "laughs"), not a remark ("my cousin")
        if head and head[0] in word_set("narration_verbs") | word_set("gesture_nouns") | word_set("stage_manners"):
            return f"carries a stage direction in brackets ({aside.group(0)[:40]!r})"
    if _named_gesture(tokens):
        return f"names a gesture instead of speaking ({text.strip()[:40]!r})"
    known = name_words(names)
    if _card_line(text, known):
        return f"reads out a character card ({text.strip()[:40]!r})"
    for subject, verb, after in _narration_heads(text, known):
        if verb not in word_set("narration_verbs"):
            continue
        # "Joy smiles." / "She sighs and says"; a gesture after a participant's name is narration
        # whatever follows ("Camille and Nasrin smiled at each other"), a speech verb with an
        # object is reported speech ("Bao said she'd come")
        if (subject and after in ("", "and")) or (subject == "name" and verb in word_set("gesture_verbs")):
            return f"narrates instead of speaking ({text.strip()[:40]!r})"
    # "Elif's gaze drops to the floor", "Yara's voice cracks": a participant's face or voice
    # described at the head of a sentence
    for sentence in re.split(r"(?<=[.!?])\s+|\n", text):
        tokens = words(sentence)
        i = 0  # past "Elif and" in "Elif and Nikhil's eyes crinkled"
        while i + 1 < len(tokens) and (tokens[i] in known or (i and tokens[i] == "and")):
            i += 1
        if (len(tokens) > i + 1 and tokens[i].endswith("'s") and tokens[i].removesuffix("'s") in known
                and tokens[i + 1] in word_set("narration_nouns")):
            return f"narrates instead of speaking ({text.strip()[:40]!r})"
        # "Vikram, Diego and Oscar smiling.": several names listed, then a gesture or a manner
        names_listed = sum(t in known for t in tokens[:i])
        if names_listed >= 2 and len(tokens) > i and tokens[i] in word_set("gesture_verbs") | word_set("stage_manners"):
            return f"narrates instead of speaking ({text.strip()[:40]!r})"
    return None


# what a character card holds besides names: an age and a manner ("21 years of age, talking")
_CARD_WORDS = {"years", "year", "old", "of", "age", "aged", "talking", "speaking", "listening"}


def _card_line(text: str, known: set[str]) -> bool:
    """Names, an age and a manner, asides in brackets aside: "Oksana (removing the person's face
    color) 21 years old, smiling.", "Wei and Emil 21 years of age, talking." (the persona
    prompt's "You are Wei, 20 years old, talking with..." turned into stage text)."""
    tokens = words(_ASIDE.sub(" ", text))
    allowed = _CARD_WORDS | word_set("connectors") | word_set("gesture_verbs") | word_set("stage_manners")
    return (any(t in known for t in tokens) and any(t.isdigit() or t in {"years", "aged"} for t in tokens)
            and all(t in known or t in allowed or t.isdigit() for t in tokens))


def _named_gesture(tokens: list[str]) -> bool:
    """A short line that is a gesture as a noun phrase: "A smile from a friend.", "A big hug."
    ("A smile costs nothing" has a verb after the gesture: speech)."""
    if not 0 < len(tokens) <= 6 or tokens[0] not in {"a", "an", "another"}:
        return False
    at = next((i for i in (1, 2) if i < len(tokens) and tokens[i] in word_set("gesture_nouns")), None)
    return at is not None and (at + 1 == len(tokens) or tokens[at + 1] in _GESTURE_TAIL)


def _narration_heads(text: str, known: set[str]) -> list[tuple[str, str, str]]:
    """(subject kind, verb, what follows) at the head of each sentence, the subject being one or
    more participants' names joined by "and" ("name") or a third-person pronoun ("pronoun"), else
    "": "Joy smiles." -> (name, smiles, ""); "Bao and Joy nod and say" -> (name, nod, and)."""
    heads = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n", text):
        tokens = words(_SEGMENT.split(sentence)[0])
        i = 0
        while i < len(tokens) and (tokens[i].removesuffix("'s") in known or (i and tokens[i] == "and")):
            i += 1
        subject = "name" if i else "pronoun" if tokens[:1] and tokens[0] in {"he", "she", "they"} else ""
        i = max(i, 1)
        if len(tokens) > i:
            heads.append((subject, tokens[i], tokens[i + 1] if len(tokens) > i + 1 else ""))
    return heads


def roll_call(text: str, names: Iterable[str]) -> str | None:
    """A line made of participants' names ("Nasrin, Giulia and Camille."), or of two or more names
    and one word more ("Sun and Ana, brother.": the relations list read out). A greeting word
    ("Hi Ana!") makes it speech."""
    known = name_words(names)
    tokens = words(text)
    named = [t for t in tokens if t in known]
    rest = [t for t in tokens if t not in known and t not in word_set("connectors")]
    if not named or any(t in word_set("vocative") for t in rest):
        return None
    if not rest or (len(rest) == 1 and len(named) >= 2):
        return f"only lists names ({text.strip()[:60]!r})"
    # names, then what relates them: "Alinta and Shira, siblings with a love for..." (a cast
    # list read out, not someone talking to them)
    segments = _segments(text)
    head = segments[0] if segments else []
    appositive = [t for t in segments[1] if t not in _RELATION_GLUE][:1] if len(segments) > 1 else []
    if (sum(t in known for t in head) >= 2 and all(t in known or t in word_set("connectors") for t in head)
            and appositive and appositive[0] in word_set("relation_words")):
        return f"introduces people by their relation ({text.strip()[:60]!r})"
    if _cast_line(text, segments, known):
        return f"introduces people with a description, as a cast list does ({text.strip()[:60]!r})"
    # names and how they are related, nothing else: "Yusuf, brother.", "Jamal and Esther, the
    # parents of Isaac." (the relations list read out)
    if all(t in word_set("relation_words") or t in _RELATION_GLUE for t in rest) and any(
            t in word_set("relation_words") for t in rest):
        return f"only lists names and relations ({text.strip()[:60]!r})"
    return None


def _cast_line(text: str, segments: list[list[str]], known: set[str]) -> bool:
    """Two or more names, then one description and the line ends, stated, with no clause in it:
    "Tuan and Shira, Ella's team of superheroes." (a cast list read out). An exclamation is a
    cheer ("Tuan and Shira, the best team ever!"), a verb or a pronoun makes it speech ("Tuan and
    Shira, the bus is here.", "Joy and Diego, my friends, welcome!")."""
    if len(segments) < 2 or text.rstrip().endswith(("!", "?")):
        return False
    *heads, description = segments  # "Nasrin, Giulia and Camille, ..." splits its names too
    head = [t for segment in heads for t in segment]
    if sum(t in known for t in head) < 2 or not all(t in known or t in word_set("connectors") for t in head):
        return False
    first = description[0]
    opens_description = first in _DESCRIPTION_HEADS or (first.endswith("'s") and first.removesuffix("'s") in known)
    # a verb in -ing makes a clause too ("your tea's getting cold"); "the morning crew" is let go
    has_clause = any(t in word_set("clause_words") or t.endswith(_CLAUSE_ENDINGS) or (len(t) > 4 and t.endswith("ing"))
                     for t in description)
    return opens_description and not has_clause


# a sentence end: the mark, any closing quotes or brackets, then a space or the end of the text
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s|$)")


def whole_sentences(text: str) -> str:
    """The text up to the end of its last whole sentence: a line cut off by the token limit
    ("... share some small moments with each other which is very important for us all to focus
    on how we help one") loses the unfinished one. "" when no sentence in it ends."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[: ends[-1].end()].strip() if ends else ""


_QUOTES = {'"': '"', "\u201c": "\u201d", "'": "'"}


def unquoted(text: str) -> str:
    """A line wrapped whole in quotation marks, without them ('"Dalia, I'm glad you're here."'):
    a person says the line, they do not quote it. Quotes inside the line stay."""
    stripped = text.strip()
    close = _QUOTES.get(stripped[:1])
    inner = stripped[1:-1]
    if close and len(stripped) > 2 and stripped.endswith(close) and stripped[:1] not in inner and close not in inner:
        return inner.strip()
    return text


def fragment(text: str) -> str | None:
    """A lone word ("Santupulada.", "Sinabulá.") is not a line of a conversation."""
    tokens = words(text)
    if len(tokens) == 1:
        return f"is a lone word ({text.strip()[:40]!r}), not a line"
    return None


def self_address(text: str, speaker: str, names: Sequence[str]) -> str | None:
    """The speaker calls themselves by name: a segment of names and calling words that holds the
    speaker's own name ("Hey Joy", "Bao and Joy, ...", "Thank you, Joy"), a list of people
    that names the speaker among others ("Joy and Diego are having a wonderful day" said by
    Diego, who would say "we"), or the speaker's name anywhere else ("Joy has always been a
    friend to me" said by Joy), unless they introduce themselves ("I'm Joy")."""
    others = name_words(n for n in names if n != speaker)
    own = name_words([speaker]) - others  # a shared family name may be the other person's
    if not own:
        return None
    known = name_words(names)
    calling = known | word_set("vocative") | word_set("connectors")
    for segment in _segments(text):
        if own & set(segment) and all(token in calling for token in segment):
            return f"addresses the speaker {speaker} by name ({' '.join(segment)!r})"
    run: list[str] = []
    for token in [*words(text), ""]:  # "" closes the last run
        if token in known or (run and token in word_set("connectors")):
            run.append(token)
            continue
        named = set(run) & known
        if named & own and named & others:
            return f"names the speaker {speaker} among others ({' '.join(run).strip()!r})"
        run = []
    for word in own:
        # "And Joao has always been a friend to me", "proud of Joao's passion", said by Joao. A
        # capital makes it the name ("full of joy" said by Joy is not); "I'm Joao" or "my name is
        # Joao" is the speaker introducing themselves
        for found in re.finditer(rf"(?<![\w']){re.escape(word)}(?![\w])", text, re.IGNORECASE):
            before = words(text[: found.start()])
            if found.group(0)[:1].isupper() and tuple(before[-2:]) not in _INTRODUCTIONS \
                    and tuple(before[-1:]) not in _INTRODUCTIONS:
                context = text[max(0, found.start() - 20):found.end() + 15]
                return f"mentions the speaker {speaker} in the third person ({context!r})"
    return None


def _leading_vocative(tokens: list[str], segments: list[list[str]], names: set[str]) -> int:
    """How many words a leading vocative segment ("Bao, ...", "Oh Joy, ...") takes."""
    calling = names | word_set("vocative") | word_set("connectors")
    if len(segments) > 1 and set(segments[0]) & names and all(t in calling for t in segments[0]):
        return len(segments[0])
    return 0


def opening(text: str, names: Iterable[str] = ()) -> tuple[str, ...]:
    """A line's first OPENING_WORDS words after any leading vocative, intensifiers left out
    ("Bao, I'm so glad to hear" opens with "i'm glad to"); a line of two words is its own
    opening ("Nice try."); a single word: no opening to compare."""
    tokens = words(text)
    tokens = tokens[_leading_vocative(tokens, _segments(text), name_words(names)):]
    tokens = [t for t in tokens if t not in word_set("intensifiers")]
    return tuple(tokens[:OPENING_WORDS]) if len(tokens) >= 2 else ()


def repeated_opening(text: str, earlier: Iterable[str], names: Iterable[str] = ()) -> str | None:
    """The line starts with the same first words as an earlier line (a two-word line and a line
    that opens with those two words count: "Nice try." then "Nice try. I'd love...")."""
    names = list(names)
    first = opening(text, names)
    for line in earlier:
        before = opening(line, names)
        shorter = min(len(first), len(before))
        if shorter >= 2 and first[:shorter] == before[:shorter]:
            return f"opens like an earlier line ({' '.join(first[:shorter])!r})"
    return None


def speech_problems(text: str, *, speaker: str, names: Sequence[str]) -> dict[str, str]:
    """Every reason the line is not a person speaking, by rule: stage_text, fragment, roll_call,
    self_address."""
    found = {
        "stage_text": stage_text(text, names),
        "fragment": fragment(text),
        "roll_call": roll_call(text, names),
        "self_address": self_address(text, speaker, names) if speaker else None,
    }
    return {rule: why for rule, why in found.items() if why}
