"""A blocking twin of an async API function, for callers without an event loop.

`generate = blocking(agenerate, "generate")` gives `generate(...)` the parameters, types and
docstring of `agenerate(...)`. It runs the coroutine with `asyncio.run`; inside a running loop
(Jupyter, an async service) it refuses, naming the async function to await instead.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = ["blocking"]

P = ParamSpec("P")
R = TypeVar("R")


def blocking(async_function: Callable[P, Coroutine[Any, Any, R]], name: str) -> Callable[P, R]:
    @functools.wraps(async_function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(async_function(*args, **kwargs))
        raise RuntimeError(f"{name}() cannot run inside a running event loop; "
                           f"use `await {async_function.__name__}(...)`")

    call.__name__ = call.__qualname__ = name
    return call
