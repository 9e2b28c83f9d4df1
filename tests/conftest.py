"""Fixtures only; shared helpers live in tests/helpers.py."""

from __future__ import annotations

import pytest

from agents.schemas import Experience
from tests.helpers import load_experience


@pytest.fixture
def experience() -> Experience:
    return load_experience()
