"""Every error Symposia raises on purpose.

`SymposiaError` is the base. `UserError` means the user can fix it (a file, a flag, an
environment variable): the CLI prints its message on one line and exits 2, no traceback.
The other subclasses are model/runtime failures that cost one conversation, never the run.
"""

from __future__ import annotations


class SymposiaError(Exception):
    """Base class for errors raised deliberately by Symposia."""


class UserError(SymposiaError):
    """Something the user can fix: bad file, bad field, bad flag, missing resource.

    Messages name the file, the field, the bad value and what is allowed.
    """


class ConfigError(UserError):
    """A YAML file is malformed or violates its schema."""


class EndpointError(UserError):
    """A configured model endpoint or model file cannot be used."""


class GenerationError(SymposiaError):
    """A model failed to produce usable output after the allowed attempts."""

    def __init__(self, message: str, *, attempts: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts or []


def first_line(text: object) -> str:
    """The first non-blank line of a message ("" when there is none), for one-line errors."""
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")
