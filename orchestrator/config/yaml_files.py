"""Loading YAML files users edit, with errors that name the file, line, field and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from agents.errors import ConfigError


class StrictModel(BaseModel):
    """Base of every schema at an untrusted edge: unknown fields are errors; values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ModelT = TypeVar("ModelT", bound=BaseModel)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file with `yaml.safe_load`; syntax errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read file: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: YAML syntax error at {where}: {problem}") from None


def describe_validation_error(source: str, exc: ValidationError, data: Any = None) -> str:
    """One readable line per problem: `file: field 'a.b': message (got value)`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        kind = err["type"]
        if kind == "extra_forbidden":
            message = "unknown field"
        elif kind == "missing":
            message = "required field is missing"
        else:
            message = err["msg"]
        value = err.get("input")
        shown = "" if kind == "missing" else f" (got {value!r})"
        if isinstance(value, dict | list) and kind != "extra_forbidden":
            shown = ""
        lines.append(f"{source}: field '{loc}': {message}{shown}")
    return "\n".join(lines)


def load_model(path: Path, model: type[ModelT], data: Any = None) -> ModelT:
    """Read `path` and validate it against `model`, raising ConfigError on any problem."""
    if data is None:
        data = read_yaml(path)
    if data is None:
        raise ConfigError(f"{path}: file is empty; expected a mapping of fields")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(str(path), exc, data)) from None
