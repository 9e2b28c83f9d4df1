"""Upper bounds of every number a user may ask for, in a scenario or on a command line.

A typo or hostile input (10**9 turns, a billion conversations) is refused when it is read, with
a message naming the field, the value and the allowed range, instead of running until killed.
"""

from __future__ import annotations

from agents.errors import UserError

MAX_PARTICIPANTS = 8
MAX_TURNS = 200
MAX_CONVERSATIONS = 1_000_000
MAX_CANDIDATES = 10_000_000
MAX_TOKEN_BUDGET = 10**12
MAX_CONCURRENCY = 100_000
MAX_WORKERS = 1024
MAX_SEED = 2**31 - 1  # the embedded backend takes a 32-bit seed


def check_number(name: str, value: int | None, low: int, high: int) -> None:
    """A number out of [low, high] is a UserError naming it, its value and the range."""
    if value is None:
        return
    if value < low:
        raise UserError(f"{name}: must be at least {low:,} (got {value})")
    if value > high:
        raise UserError(f"{name}: must be at most {high:,} (got {value}; allowed: {low:,} to {high:,})")
