"""Benchmarks, run by hand from the project root as modules, e.g. `.venv/bin/python -m benchmarks.scale`.

They use the test tooling (`tests.sim_endpoint`, `tests.browser`), which lives with the tests and
is not installed: `-m` from the project root puts the project on the import path for it.
"""
