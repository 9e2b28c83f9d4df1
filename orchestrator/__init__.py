"""Symposia's generation layer, and its Python API.

    import orchestrator
    result = orchestrator.generate("multiparty", n=2, out="runs/demo")
    records = orchestrator.read_run("runs/demo")

`generate`/`agenerate`/`read_run` are in orchestrator/api.py; `RunRequest`, `prepare_run` and
`execute_run` are the steps they wrap, for full control.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "RunRequest",
    "RunResult",
    "RunSummary",
    "agenerate",
    "execute_run",
    "generate",
    "load_models",
    "load_scenario",
    "prepare_run",
    "read_run",
]

# Each public name is imported on first use (PEP 562): `import orchestrator` stays cheap and its
# submodules, which import one another, never run half-initialised from here.
_HOMES = {
    "RunRequest": "orchestrator.prepare",
    "RunResult": "orchestrator.api",
    "RunSummary": "orchestrator.driver",
    "agenerate": "orchestrator.api",
    "execute_run": "orchestrator.driver",
    "generate": "orchestrator.api",
    "load_models": "orchestrator.config",
    "load_scenario": "orchestrator.config",
    "prepare_run": "orchestrator.prepare",
    "read_run": "orchestrator.api",
}

if TYPE_CHECKING:
    from orchestrator.api import RunResult, agenerate, generate, read_run
    from orchestrator.config import load_models, load_scenario
    from orchestrator.driver import RunSummary, execute_run
    from orchestrator.prepare import RunRequest, prepare_run


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
