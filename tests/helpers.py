"""Shared test helpers: paths, replay-backed model hubs and a small valid experience."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autogen_core.models import CreateResult
from autogen_ext.models.replay import ReplayChatCompletionClient

from agents.schemas import Experience
from orchestrator.config import ModelsConfig
from orchestrator.models.hub import ModelHub
from orchestrator.models.local import LOCAL_MODEL_INFO

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
# chat requests a run's preflight sends to one OpenAI-compatible backend before any conversation
# (a plain chat and a structured-output probe): the simulator keeps them fault-free
PREFLIGHT_REQUESTS = 2


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


class FreshReplay(ReplayChatCompletionClient):
    """A replay client whose answers look like real calls (the stock one marks them cached)."""

    async def create(self, *args: Any, **kwargs: Any) -> CreateResult:
        result = await super().create(*args, **kwargs)
        return result.model_copy(update={"cached": False})
