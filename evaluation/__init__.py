"""Symposia's measuring layer, and its Python API.

    import evaluation
    metrics = evaluation.evaluate_run("runs/demo")            # statistics, MTLD, diversity
    metrics = evaluation.evaluate_run("runs/demo", judge=True)  # plus the LLM judge

The functions are in evaluation/api.py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["aevaluate_runs", "evaluate_run", "evaluate_runs"]

# Imported on first use (PEP 562): the metrics pull in scipy, matplotlib and the embedder, which
# `import evaluation` (e.g. by the command line) should not pay for.
_HOMES = {name: "evaluation.api" for name in __all__}

if TYPE_CHECKING:
    from evaluation.api import aevaluate_runs, evaluate_run, evaluate_runs


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
