"""How many threads llama.cpp gets for the next call when the models file leaves `n_threads` unset.

llama.cpp's threads meet at a barrier after every operation and spin while they wait. On a
machine whose other processes keep the cores busy, a thread is often descheduled while its partner
spins, and a tiny model's decode collapses: measured on a 2-core machine at load average 7-8,
SmolLM2-135M decoded 1.2-9 tok/s with 2 threads and 27-38 tok/s with 1 (prompts 26-36 vs
64-78 tok/s). On an idle machine every core helps. So: every core that the rest of the machine
leaves free, at least one, from the 1-minute load average less this engine's own threads.
"""

from __future__ import annotations

import os
import time

# the load average is a one-minute mean: our own threads count in it that long after they ran
OWN_LOAD_MEMORY_SECONDS = 60.0


def free_cores(cores: int, load_average: float, own_threads: float) -> int:
    """Cores the rest of the machine leaves idle, at least 1, at most `cores`."""
    others = max(0.0, load_average - own_threads)
    return max(1, min(cores, round(cores - others)))


class AdaptiveThreads:
    """Chooses the thread count per call; `fixed` (the models file's n_threads) disables it."""

    def __init__(self, fixed: int | None, cores: int | None = None) -> None:
        self.fixed = fixed
        self.cores = cores or os.cpu_count() or 1
        self.current = fixed or self.cores
        self._last_call = -OWN_LOAD_MEMORY_SECONDS

    def choose(self) -> int:
        if self.fixed:
            return self.fixed
        recently_busy = time.monotonic() - self._last_call < OWN_LOAD_MEMORY_SECONDS
        self.current = free_cores(self.cores, os.getloadavg()[0], self.current if recently_busy else 0.0)
        return self.current

    def ran(self) -> None:
        self._last_call = time.monotonic()
