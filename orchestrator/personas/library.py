"""The persona library: one hand-written YAML file per persona in `personas/`.

A new file dropped into the directory is picked up by the next run (no code changes).
Validation collects every problem of every file — with file, line (from the YAML node marks),
field and what was expected — instead of stopping at the first, so `personas validate` can
print them all. The schema is documented in personas/README.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.errors import ConfigError
from agents.schemas import Participant
from orchestrator.config import PROJECT_ROOT
from orchestrator.config.yaml_files import out_of_range, parse_yaml, read_text, shown_value

PERSONAS_DIR = PROJECT_ROOT / "personas"

Text = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PersonaMemory(_Strict):
    recent: Text = Field(max_length=160, description="something that happened lately")
    long_term: Text = Field(max_length=160, description="something from long ago")


class PersonaFile(_Strict):
    """The schema of one persona file (documented field by field in personas/README.md)."""

    name: Text = Field(max_length=40)
    age: int = Field(ge=5, le=100)
    qualities: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        min_length=1, max_length=4
    )
    lifestyle: Text = Field(max_length=160)
    speech_style: Text = Field(max_length=120)
    memory: PersonaMemory
    attributes: list[Annotated[str, Field(min_length=3, max_length=300)]] = Field(
        default_factory=list, max_length=12
    )
    tags: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=12
    )

    def participant(self) -> Participant:
        return Participant.model_validate(self.model_dump(exclude={"tags"}))


ALLOWED_FIELDS = tuple(PersonaFile.model_fields)


@dataclass(frozen=True)
class LibraryPersona:
    id: str
    path: Path
    persona: PersonaFile


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: field '{self.field}': {self.message}"


def _node_line(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """The line of the value at `loc` (or of its deepest existing parent) in a YAML node tree."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value
                    break
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            child = node.value[part]
        if child is None:
            return line
        node, line = child, child.start_mark.line + 1
    return line


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown field; allowed fields: {', '.join(ALLOWED_FIELDS)}"
    if kind == "missing":
        return "required field is missing"
    bounds = out_of_range(PersonaFile, err)
    if bounds is not None:
        return bounds
    value = err.get("input")
    shown = "" if isinstance(value, dict | list) else f" (got {shown_value(value)})"
    return f"{err['msg']}{shown}"


def check_file(path: Path) -> tuple[PersonaFile | None, list[Problem]]:
    """Parse and validate one persona file; every problem found, with line numbers."""
    try:
        node, data = parse_yaml(read_text(path), str(path))
    except ConfigError as exc:  # unreadable, not UTF-8, too large, bad YAML, an alias bomb
        return None, [Problem(path, None, "(file)", str(exc).removeprefix(f"{path}: "))]
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        return None, [
            Problem(path, 1, "(top level)", f"expected a mapping of persona fields, got {got}")
        ]
    try:
        return PersonaFile.model_validate(data), []
    except RecursionError:
        return None, [Problem(path, None, "(file)", "nested too deeply to read")]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            problems.append(
                Problem(path, _node_line(node, loc), ".".join(map(str, loc)), _message(err))
            )
        return None, problems


def persona_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories to their *.yaml / *.yml files (not recursive), keep files as given."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]))
        else:
            files.append(path)
    return files


def validate_files(paths: Iterable[Path]) -> tuple[list[LibraryPersona], list[Problem]]:
    """Every valid persona and every problem, including names used by more than one file."""
    personas: list[LibraryPersona] = []
    problems: list[Problem] = []
    for path in persona_files(paths):
        if not path.exists():
            problems.append(Problem(path, None, "(file)", "file not found"))
            continue
        persona, found = check_file(path)
        problems.extend(found)
        if persona is not None:
            personas.append(LibraryPersona(path.stem, path, persona))
    seen: dict[str, LibraryPersona] = {}
    for item in personas:
        key = item.persona.name.casefold()
        if key in seen:
            first = seen[key]
            problems.append(
                Problem(
                    item.path,
                    _name_line(item.path),
                    "name",
                    f"duplicate persona name '{item.persona.name}' (also in {first.path}); "
                    "names must be unique",
                )
            )
        else:
            seen[key] = item
    return personas, problems


def _name_line(path: Path) -> int | None:
    try:  # the file parsed a moment ago; it may have changed since
        node, _ = parse_yaml(read_text(path), str(path))
    except ConfigError:
        return None
    return _node_line(node, ("name",))


def load_library(
    directory: Path = PERSONAS_DIR, *, tags: Sequence[str] = ()
) -> list[LibraryPersona]:
    """All personas in `directory` (optionally only those with one of `tags`); any problem in
    any file is a ConfigError listing them all."""
    if not directory.is_dir():
        raise ConfigError(f"personas.library: directory not found: {directory}")
    personas, problems = validate_files([directory])
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in the persona library "
            "(run `python run.py personas validate`): " + "; ".join(str(p) for p in problems)
        )
    if tags:
        wanted = {t.casefold() for t in tags}
        personas = [p for p in personas if wanted & {t.casefold() for t in p.persona.tags}]
    return personas
