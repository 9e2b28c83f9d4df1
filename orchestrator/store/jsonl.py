"""JSON Lines as every run-file reader and writer handles them: one encoder, one splitter, one
rule for a torn last line.

Lines are split on "\\n" only. `str.splitlines()` also breaks at U+2028, U+2029, U+0085 and
\\x1c-\\x1e, and JSON may carry U+2028/U+2029/U+0085 raw inside a string: a turn containing one
would be cut in two. `encode_line` escapes those three anyway, so other line-oriented tools
(editors, JavaScript, `splitlines`) also see one record per line.

Run files are only ever appended to, so an interruption (kill -9, a full disk) can only damage
the end of a file. The last line is a torn write when it does not parse; `read_jsonl` leaves
it out of the records and describes it in `JsonlContent.torn` (a last line that parses but has
no newline is a whole record and is kept: `unterminated`). A line that
does not parse before the last one is not a torn write but damage (`JsonlContent.damaged`):
each caller decides whether that is worth a note (viewers) or an error (evaluate, resume).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from pydantic import BaseModel, ValidationError

__all__ = ["JsonlContent", "Line", "LineError", "SkippedLine", "encode_line", "json_object", "read_jsonl",
           "split_lines"]

T = TypeVar("T")

# Raw, these three end a line for str.splitlines(), JavaScript and many editors; escaped they
# decode to the same text.
_LINE_SEPARATOR_ESCAPES = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"})


def encode_line(value: Any) -> str:
    """One JSONL line, newline included: a pydantic record as it dumps itself, anything else with
    json.dumps (non-ASCII text kept readable, what is not JSON written as its str())."""
    if isinstance(value, BaseModel):
        text = value.model_dump_json()
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text.translate(_LINE_SEPARATOR_ESCAPES) + "\n"


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, counting blank lines too, as an editor does
    text: str
    start: int  # byte offset in the file
    terminated: bool  # a newline follows it
    end: int = -1  # byte offset just past the line (its newline excluded)
    bad_byte: int | None = None  # file offset of the first byte that is not UTF-8

    @property
    def not_utf8(self) -> str | None:
        """Completes "line N ..." when the line is not UTF-8, else None."""
        return None if self.bad_byte is None else f"is not UTF-8 text (bad byte at byte offset {self.bad_byte})"


def split_lines(data: bytes) -> list[Line]:
    """The non-blank lines of JSONL data, split on b"\\n" only. A line that is not UTF-8 has
    `bad_byte` set (its text shows U+FFFD there): readers refuse or skip it, never keep a record
    whose text was silently replaced."""
    lines: list[Line] = []
    start = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        end = start + len(raw)
        if raw.strip():
            try:
                text, bad = raw.decode("utf-8"), None
            except UnicodeDecodeError as exc:
                text, bad = raw.decode("utf-8", errors="replace"), start + exc.start
            lines.append(Line(number, text, start, end < len(data), end, bad))
        start = end + 1
    return lines


class LineError(ValueError):
    """A line that parsed as JSON but is not what the reader expects; the message completes
    "line N ..." (e.g. "is not a JSON object")."""


def json_object(text: str) -> dict[str, Any]:
    """The default parser: one JSON object per line."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise LineError("is not a JSON object")
    return value


@dataclass(frozen=True)
class SkippedLine:
    number: int
    start: int  # byte offset: a torn line is cut off the file from here
    problem: str  # completes "line N ...": "is not valid JSON", "has no newline at its end"...
    detail: str = ""  # the parser's own message, when it has one
    end: int = -1  # byte offset just past the line (its newline excluded)


@dataclass
class JsonlContent(Generic[T]):
    """What `read_jsonl` found: the records of every line that parsed (the torn last line
    excepted), in file order with their line numbers, and the lines it skipped."""

    name: str  # the file name, as notes show it
    size: int  # bytes read
    records: list[T] = field(default_factory=list)
    record_lines: list[int] = field(default_factory=list)  # line number of each record
    damaged: list[SkippedLine] = field(default_factory=list)  # unparsable lines before the last one
    torn: SkippedLine | None = None  # the last line, when it is a torn write
    unterminated: bool = False  # the last line is a whole record without its newline (appends add one first)

    @property
    def complete_size(self) -> int:
        """The file's length without its torn last line."""
        return self.size if self.torn is None else self.torn.start

    @property
    def notes(self) -> list[str]:
        """One line per skipped line, for people."""
        notes = [f"{self.name}: line {s.number} {s.problem} and was skipped" for s in self.damaged]
        if self.torn is not None:
            notes.append(
                f"{self.name}: last line {self.torn.problem}; line {self.torn.number} is truncated "
                f"({self.size - self.torn.start} bytes), probably by an interrupted write, and was skipped"
            )
        return notes


def _describe(exc: ValueError) -> tuple[str, str]:
    """(problem, detail) of a line that did not parse."""
    if isinstance(exc, LineError):
        return str(exc), ""
    if isinstance(exc, json.JSONDecodeError):
        return "is not valid JSON", exc.msg
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            return "is not valid JSON", first["msg"]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        return f"is not a valid {exc.title}", f"field '{where}': {first['msg']}"
    return "cannot be read", str(exc)


@overload
def read_jsonl(path: Path) -> JsonlContent[dict[str, Any]]: ...


@overload
def read_jsonl(path: Path, parse: Callable[[str], T]) -> JsonlContent[T]: ...


def read_jsonl(path: Path, parse: Callable[[str], Any] = json_object) -> JsonlContent[Any]:
    """Every line of a JSONL file through `parse` (which raises ValueError for a line it cannot
    read, as json.loads and pydantic's model_validate_json do). The last line is a torn write
    when it does not parse: it is not among the records, `torn` says why, and
    `complete_size` is where it starts. Earlier lines that do not parse are in `damaged`; the
    lines after them are still read. Raises OSError when the file cannot be read."""
    data = path.read_bytes()
    content: JsonlContent[Any] = JsonlContent(path.name, len(data))
    lines = split_lines(data)
    for line in lines:
        last = line is lines[-1]
        try:
            if line.not_utf8 is not None:
                raise LineError(line.not_utf8)
            record = parse(line.text)
        except ValueError as exc:
            skipped = SkippedLine(line.number, line.start, *_describe(exc), end=line.end)
            if last:
                content.torn = skipped
            else:
                content.damaged.append(skipped)
            continue
        # a whole record whose newline is missing (a write cut right before it, or a file made
        # by hand) is kept: a cut inside a record does not parse
        content.unterminated = last and not line.terminated
        content.records.append(record)
        content.record_lines.append(line.number)
    return content
