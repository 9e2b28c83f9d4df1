"""Is a line in another language than the conversation? Offline and cheap, no model: two signals.

1. The writing system: each letter's Unicode script (LATIN, CYRILLIC, CJK, ARABIC...). A line
   whose letters are mostly in another script than the conversation's is in another language.
2. Within the Latin script, the common-word profile: the share of a line's words that are among
   a language's most common function words (agents/word_lists.yaml). Function words make up
   about half of any running text, so a few of them identify the language of a short line.

The verdict is deliberately one-sided: a line is flagged only when the evidence is clear (enough
words, at least two hits, twice as many as for the conversation's language). A line with no
decisive words ("Absolutely wonderful idea!") is never flagged, so a name, a borrowed word or a
short exclamation does not cost a reply.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

from agents.word_lists import language_words, words

# A line needs this many words before its common words say anything about its language.
MIN_LINE_WORDS = 4
# The reference (the conversation so far) needs this many hits for one language to be its language.
MIN_REFERENCE_HITS = 3
# Japanese mixes kanji with kana; Chinese and Japanese lines both read as one family here.
_SCRIPT_FAMILY = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HALFWIDTH": "CJK", "FULLWIDTH": "CJK"}


def script(text: str) -> tuple[str | None, float]:
    """The script most of the text's letters are written in, and its share of the letters."""
    counts: Counter[str] = Counter()
    for char in text:
        if char.isalpha():
            name = unicodedata.name(char, "UNKNOWN").split(" ")[0]
            counts[_SCRIPT_FAMILY.get(name, name)] += 1
    if not counts:
        return None, 0.0
    top, count = counts.most_common(1)[0]
    return top, count / sum(counts.values())


def language_hits(tokens: list[str]) -> Counter[str]:
    """Per language, how many of these words are among its common words."""
    hits: Counter[str] = Counter()
    for code, common in language_words().items():
        hits[code] = sum(1 for token in tokens if token in common)
    return hits


def dominant_language(text: str) -> str | None:
    """The one language whose common words the text uses most, if the evidence is clear."""
    hits = language_hits(words(text))
    ranked = hits.most_common(2)
    if not ranked or ranked[0][1] < MIN_REFERENCE_HITS:
        return None
    if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None  # a tie says nothing
    return ranked[0][0]


def language_drift(line: str, reference: str) -> str | None:
    """Why `line` is not in the language of `reference` (the conversation so far), or None."""
    line_script, share = script(line)
    reference_script, _ = script(reference)
    if line_script and reference_script and line_script != reference_script and share >= 0.5:
        return f"is written in {line_script.lower()} script, the conversation in {reference_script.lower()}"
    if line_script != "LATIN":
        return None
    tokens = words(line)
    if len(tokens) < MIN_LINE_WORDS:
        return None
    expected = dominant_language(reference)
    if expected is None:
        return None
    hits = language_hits(tokens)
    best = max(hits.values())
    leaders = sorted(code for code, count in hits.items() if count == best)
    if expected in leaders or best < 2 or best < 2 * hits[expected]:
        return None
    return (f"reads as {'/'.join(leaders)} ({best} of its {len(tokens)} words are common there, "
            f"{hits[expected]} common in {expected}, the conversation's language)")
