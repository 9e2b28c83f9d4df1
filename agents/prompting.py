"""Prompt templates: the one place prompt text is rendered.

Templates are data in `prompts/*.yaml` (loaded by `orchestrator.config.prompt_files`); this module
only renders them, always through Jinja with `StrictUndefined` so a misspelt variable fails
loudly instead of silently rendering as an empty string.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2

from agents.errors import ConfigError

_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["tojson_compact"] = lambda value: json.dumps(value, ensure_ascii=False)


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> jinja2.Template:
    # compiling costs ~5 ms; a run renders the same few templates thousands of times
    return _ENV.from_string(source)


@dataclass(frozen=True)
class PromptTemplate:
    """A named set of template strings loaded from one YAML file in `prompts/`."""

    name: str
    source: str
    parts: Mapping[str, str]
    version: str = field(default="")

    @property
    def digest(self) -> str:
        """Content hash of the template file, recorded with every output it produced."""
        blob = json.dumps(dict(self.parts), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def render(template: PromptTemplate, part: str, **variables: Any) -> str:
    """Render one part of a template. The only function that turns templates into text."""
    if part not in template.parts:
        raise ConfigError(
            f"{template.source}: missing template part '{part}' "
            f"(present: {', '.join(sorted(template.parts))})"
        )
    try:
        return _compiled(template.parts[part]).render(**variables).strip()
    except jinja2.UndefinedError as exc:
        raise ConfigError(
            f"{template.source}: part '{part}' uses an undefined variable: {exc.message}; "
            f"available: {', '.join(sorted(variables))}"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(
            f"{template.source}: part '{part}' has a template syntax error at line {exc.lineno}: "
            f"{exc.message}"
        ) from None


def prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
