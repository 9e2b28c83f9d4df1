"""Agent identifiers for the people of a conversation, whatever their names are written in.

AutoGen wants agent names that are Python identifiers and OpenAI wants `^[a-zA-Z0-9_-]+$`, while a
person may be called 李雷, Ёжик, نور, שירה, Zoë or "!!". Each display name gets a readable ASCII
identifier when it has one (Zoë -> Zoe, María José -> Maria_Jose), else `P_` and a short hash of
the name (stable: the same name gets the same identifier in every run). Identifiers are unique
within a conversation: names that would share one (Zoë and Zoe, 李雷 and 李蕾 would not, but Ana
and Aña would) get their hash appended, and a last resort numbers them. The display name stays
everywhere a person reads it; records keep `speaker_ids` (identifier -> display name).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

MAX_LENGTH = 40
# Sources AutoGen's group chat uses itself: a person may not share one (agents/group_chat.py
# sends the opening as "user").
RESERVED = frozenset({"user"})
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def name_hash(display_name: str) -> str:
    """Six hex digits of the name (NFC-normalised, so both spellings of é hash alike)."""
    return hashlib.sha256(unicodedata.normalize("NFC", display_name.strip()).encode()).hexdigest()[:6]


def readable_id(display_name: str) -> str | None:
    """The name's ASCII letters and digits joined by `_`, or None when it has no ASCII letter."""
    ascii_name = unicodedata.normalize("NFKD", display_name).encode("ascii", "ignore").decode()
    slug = _NOT_ALNUM.sub("_", ascii_name).strip("_")[:MAX_LENGTH].rstrip("_")
    if not slug:
        return None
    if not any(c.isalpha() for c in slug):
        return f"P_{slug}"[:MAX_LENGTH]  # digits only: an identifier cannot start with one
    return f"P_{slug}"[:MAX_LENGTH] if slug[0].isdigit() else slug


def speaker_id(display_name: str) -> str:
    """The identifier of one name on its own (a conversation may suffix it: `speaker_ids`)."""
    readable = readable_id(display_name)
    if readable is None or readable.casefold() in RESERVED:
        return f"P_{name_hash(display_name)}" if readable is None else f"{readable}_{name_hash(display_name)}"
    return readable


def speaker_ids(display_names: Sequence[str]) -> dict[str, str]:
    """Display name -> agent identifier for everyone in one conversation, in order; identifiers
    are distinct (case-insensitively, as some endpoints compare them) and valid for AutoGen and
    OpenAI. Display names are expected to be distinct (experience_problems checks)."""
    names = list(dict.fromkeys(display_names))
    ids = [speaker_id(name) for name in names]
    shared = Counter(i.casefold() for i in ids)
    # a readable identifier two names share gets each name's hash (a hashed one has it already)
    ids = [f"{i[: MAX_LENGTH - 7]}_{name_hash(n)}" if shared[i.casefold()] > 1 and readable_id(n) == i else i
           for i, n in zip(ids, names, strict=True)]
    taken: set[str] = set()
    unique = []
    for position, identifier in enumerate(ids, start=1):
        if identifier.casefold() in taken:  # the same hash twice: numbered by position
            identifier = f"{identifier[: MAX_LENGTH - 4]}_{position}"
        taken.add(identifier.casefold())
        unique.append(identifier)
    return dict(zip(names, unique, strict=True))


def id_of(name: str, ids: dict[str, str]) -> str:
    """The identifier of `name` in a conversation's `speaker_ids`, matching as the experience
    checks do (surrounding spaces and case ignored); a name not in it gets `speaker_id`."""
    if name in ids:
        return ids[name]
    key = name.strip().casefold()
    return next((i for n, i in ids.items() if n.strip().casefold() == key), speaker_id(name))
