"""Shared test helpers: replay-backed model hubs and a small valid experience."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from autogen_ext.models.replay import ReplayChatCompletionClient

from agents.schemas import Experience
from orchestrator.config import ModelsConfig
from orchestrator.local_llm import LOCAL_MODEL_INFO
from orchestrator.model_clients import ModelHub

FIXTURES = Path(__file__).parent / "fixtures"


def load_experience(name: str = "foundation/experience_three.json") -> Experience:
    return Experience.model_validate(json.loads((FIXTURES / name).read_text()))


def replay(outputs: list[str]) -> ReplayChatCompletionClient:
    return ReplayChatCompletionClient(outputs, model_info=LOCAL_MODEL_INFO)


def replay_hub(tmp_path: Path, clients: dict[str, ReplayChatCompletionClient]) -> ModelHub:
    """A ModelHub whose roles each talk to their own replay client (no model is loaded)."""
    dummy = tmp_path / "dummy.gguf"
    dummy.write_bytes(b"GGUF")
    backends = {role: {"type": "local", "model_path": str(dummy)} for role in clients}
    first = next(iter(clients))
    config = ModelsConfig.model_validate(
        {
            "backends": backends,
            "default": {"backend": first},
            "roles": {role: {"backend": role} for role in clients},
            # replay clients script every reply; a cache would answer from earlier runs instead
            "cache": {"store": "off"},
        }
    )
    hub = ModelHub(config, tmp_path / "models.yaml", seed=0)
    for role, client in clients.items():
        hub.install_client(role, client)
    return hub


@pytest.fixture
def experience() -> Experience:
    return load_experience()
