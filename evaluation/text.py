"""Text normalisation and tokenisation shared by every lexical metric.

lexicalrichness's own tokeniser glues words across dashes (`cats—dogs` → `catsdogs`), drops
digits and keeps curly quotes (see shared/NOTES.md), so we tokenise ourselves and hand it the
token list. The rules, in order (documented in the README):
1. Unicode NFKC, then lower-case (casefold).
2. Curly quotes/apostrophes become straight ones (’ → ', “ ” → ").
3. Every dash (hyphen-minus between words, en dash, em dash, minus sign) separates words.
4. Digits are kept: a run of digits (with inner . or ,) is one token ("3", "2.5").
5. Tokens are runs of letters, optionally joined by an apostrophe ("don't", "o'clock").
   Everything else (punctuation, emoji, symbols) is dropped.
"""

from __future__ import annotations

import re
import unicodedata

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
    }
)
_DASHES = re.compile(r"[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\-]+")
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)*")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    return _DASHES.sub(" ", text)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalise(text))


def turn_tokens(turn_texts: list[str]) -> list[str]:
    """Tokens of a whole conversation, speaker labels already excluded (turn text only)."""
    out: list[str] = []
    for text in turn_texts:
        out.extend(tokens(text))
    return out


def strip_speaker_labels(text: str, names: frozenset[str]) -> str:
    """Drop leading `Name:` prefixes a model echoes into its turn ("Maria: Sekou: Thank you")."""
    stripped = text.lstrip()
    while True:
        head, sep, rest = stripped.partition(":")
        if not sep or head.strip() not in names:
            return stripped
        stripped = rest.lstrip()

