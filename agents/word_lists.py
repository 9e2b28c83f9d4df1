"""The word lists of agents/word_lists.yaml (common words per language, stage labels, narration
verbs, vocative words, schema field names, placeholders), loaded once as frozen sets, and the one
tokeniser the text rules share."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

WORD_LISTS_FILE = Path(__file__).with_name("word_lists.yaml")
_WORD = re.compile(r"[\w']+")


def words(text: str) -> list[str]:
    """Case-folded words; an apostrophe stays inside its word (i'm, c'est, lena's)."""
    return _WORD.findall(text.casefold())


@functools.cache
def _load() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORD_LISTS_FILE.read_text(encoding="utf-8"))
    lists = [*data["languages"].values(), *(v for k, v in data.items() if k != "languages")]
    odd = sorted({repr(w) for words in lists for w in words if not isinstance(w, str)})
    if odd:  # an unquoted yes/no/on/off is a boolean in YAML, not a word
        raise ValueError(f"{WORD_LISTS_FILE}: entries that are not strings (quote them): {', '.join(odd)}")
    return data


@functools.cache
def word_set(name: str) -> frozenset[str]:
    """One flat list (`connectors`, `vocative`, `stage_labels`, ...) as a set of lower-case words."""
    return frozenset(word.casefold() for word in _load()[name])


@functools.cache
def language_words() -> MappingProxyType[str, frozenset[str]]:
    """Language code -> its most common function words."""
    languages = _load()["languages"]
    return MappingProxyType({code: frozenset(w.casefold() for w in words) for code, words in languages.items()})


@functools.cache
def common_words() -> frozenset[str]:
    """Every language's function words together: words that carry no content of their own."""
    return frozenset().union(*language_words().values())
