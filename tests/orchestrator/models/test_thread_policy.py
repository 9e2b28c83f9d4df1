"""The embedded engine's thread count follows the cores other processes leave free."""

from __future__ import annotations

from orchestrator.models.thread_policy import AdaptiveThreads, free_cores


def test_an_idle_machine_gets_every_core() -> None:
    assert free_cores(2, load_average=0.1, own_threads=0) == 2
    assert free_cores(2, load_average=2.0, own_threads=2) == 2  # the load is our own


def test_a_busy_machine_gets_one_thread() -> None:
    assert free_cores(2, load_average=3.0, own_threads=2) == 1
    assert free_cores(2, load_average=7.5, own_threads=1) == 1
    assert free_cores(8, load_average=5.0, own_threads=0) == 3


def test_a_fixed_count_is_kept() -> None:
    assert AdaptiveThreads(3, cores=2).choose() == 3
    assert 1 <= AdaptiveThreads(None, cores=2).choose() <= 2
