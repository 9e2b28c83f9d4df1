"""Shared test helpers: paths, replay-backed model hubs and a small valid experience."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from autogen_core.models import CreateResult
from autogen_ext.models.replay import ReplayChatCompletionClient

from agents.schemas import Experience
from orchestrator.config import ModelsConfig, load_models, load_scenario
from orchestrator.models.hub import ModelHub
from orchestrator.models.local import LOCAL_MODEL_INFO
from orchestrator.prepare import RunRequest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
# chat requests a run's preflight sends to one OpenAI-compatible backend before any conversation
# (a plain chat and a structured-output probe): the simulator keeps them fault-free
PREFLIGHT_REQUESTS = 2


def load_experience(name: str = "foundation/experience_three.json") -> Experience:
    return Experience.model_validate(json.loads((FIXTURES / name).read_text()))


TOPICS = ("Whether the bakery should open on Sundays.", "Who pays for the broken oven.", "A holiday by the sea.",
          "Which band plays at the street party.", "How to split the garden plots.", "A dog that keeps escaping.",
          "Moving the market to the square.", "The new bus timetable.", "A neighbour's noisy renovation.",
          "Who keeps the lost-and-found box.")


# as many situations as topics, no two sharing most of their words (shot_copy rejects a shot's
# situation reworded, and every written experience becomes a shot)
SITUATIONS = ("Saturday morning at the bakery counter before opening.", "A rainy evening in the repair shop.",
              "Lunch break on the harbour wall.", "The street party committee meets in the pub.",
              "Allotment gardeners gather by the tool shed.", "A muddy walk along the river path.",
              "Stallholders unload vans in the car park.", "Commuters wait at a cold bus stop.",
              "Neighbours talk over the fence on Sunday.", "The school office after the last bell.")


def varied_experience(experience: Experience, i: int) -> Experience:
    """The i-th variation of `experience`: its own situation, topic and starter (past the lists,
    four-word ones, too short to count as a reworded copy of another)."""
    topic = TOPICS[i] if i < len(TOPICS) else f"Round {i} of talks."
    situation = SITUATIONS[i] if i < len(SITUATIONS) else f"Market day number {i}."
    return experience.model_copy(update={
        "situation": situation, "topic": topic,
        "starter": experience.starter.model_copy(update={"text": f"Okay, listen. {topic}"})})


def varied_experiences(experience: Experience, n: int) -> list[str]:
    """n scripted generator answers (JSON) that differ in situation, topic and starter: each
    written experience joins the few-shot hub, and one repeating a shot's is rejected (shot_copy)."""
    answers = []
    for i in range(n):
        varied = varied_experience(experience, i)
        answers.append(json.dumps(varied.model_dump()))
    return answers


def python_in_checkout(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -c code` in a new interpreter from `cwd`, importing this checkout (not whichever
    one is installed)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def tiny_request(tmp_path: Path, *, n: int, seed: int, **changes: Any) -> RunRequest:
    """A request for the tiny test scenario (tests/fixtures/foundation/tiny.yaml) with the default
    models, writing to tmp_path/run; `changes` replace any other field."""
    scenario, path = load_scenario(str(FIXTURES / "foundation" / "tiny.yaml"))
    models, models_path = load_models(None)
    request = RunRequest(scenario=scenario, scenario_path=path, models=models, models_path=models_path,
                         num_conversations=n, out_dir=tmp_path / "run", seed=seed, command_line=("test",))
    return replace(request, **changes)


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


class ScriptedHubBase:
    """What a scripted stand-in for ModelHub answers besides its clients: no grammar, no prefix
    reuse, no schema enforcement, no remote backend, no local engine."""

    def has_grammar(self, role: str) -> bool:
        return False

    def reuses_prefixes(self, role: str) -> bool:
        return False

    def enforces_schemas(self, role: str) -> bool:
        return False

    def describe(self, role: str) -> str:
        return f"scripted:{role}"

    def local_engines(self) -> list[Any]:
        return []

    @property
    def structured_modes(self) -> dict[str, str]:
        return {}  # no remote backend, nothing probed

    async def close(self) -> None:
        return None
