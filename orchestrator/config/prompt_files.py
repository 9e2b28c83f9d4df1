"""Load prompt templates and seed shots from `prompts/` (data users edit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.errors import ConfigError
from agents.prompting import PromptTemplate
from agents.schemas import Experience, experience_problems
from orchestrator.config import PROMPTS_DIR
from orchestrator.config.yaml_files import describe_validation_error, load_model, read_yaml


class PromptFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | str = 1
    description: str = ""
    parts: dict[str, str] = Field(min_length=1)


def load_prompt(name: str, required_parts: tuple[str, ...] = (), directory: Path = PROMPTS_DIR) -> PromptTemplate:
    path = directory / f"{name}.yaml"
    if not path.exists():
        available = ", ".join(sorted(p.stem for p in directory.glob("*.yaml")))
        raise ConfigError(f"prompt template '{name}' not found at {path}; available: {available}")
    spec = load_model(path, PromptFile)
    missing = [p for p in required_parts if p not in spec.parts]
    if missing:
        raise ConfigError(
            f"{path}: field 'parts' lacks required part(s) {', '.join(missing)} "
            f"(present: {', '.join(sorted(spec.parts))})"
        )
    env = jinja2.Environment()
    for part, text in spec.parts.items():
        try:
            env.parse(text)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(
                f"{path}: field 'parts.{part}': template syntax error at line {exc.lineno}: {exc.message}"
            ) from None
    return PromptTemplate(name=name, source=str(path), parts=dict(spec.parts), version=str(spec.version))


class ShotFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shots: list[dict[str, Any]] = Field(min_length=1)


def load_seed_shots(relative: str, directory: Path = PROMPTS_DIR) -> list[Experience]:
    """Hand-written example experiences that seed the few-shot hub."""
    path = directory / relative
    spec = load_model(path, ShotFile)
    shots = []
    for i, raw in enumerate(spec.shots):
        try:
            shot = Experience.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(f"{path}: shots[{i}]", exc)) from None
        problems = experience_problems(shot)
        if problems:
            raise ConfigError(f"{path}: shots[{i}]: {'; '.join(problems)}")
        shots.append(shot)
    return shots


class NameFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(min_length=8)


def load_names(relative: str = "names.yaml", directory: Path = PROMPTS_DIR) -> list[str]:
    """First names the orchestrator may hand to the experience generator."""
    path = directory / relative
    names = load_model(path, NameFile).names
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{path}: field 'names': duplicate entries {', '.join(duplicates)}")
    return names


__all__ = ["load_names", "load_prompt", "load_seed_shots", "read_yaml"]
