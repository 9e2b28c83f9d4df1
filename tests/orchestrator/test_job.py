"""A job is a pure function of its inputs: same job, same scripted models -> same result, and
running it writes no file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from agents.schemas import Experience
from orchestrator.driver import Driver
from orchestrator.executors.local import LocalExecutor
from orchestrator.job import JobResult, plan_job, run_job
from orchestrator.prepare import prepare_run
from orchestrator.store.writer import RunStore
from tests.helpers import replay, replay_hub, tiny_request

_WRITES: list[tuple[str, str]] = []
_WATCHING = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # every open() for writing while a job runs is recorded (audit hooks cannot be removed:
    # this one only records while _WATCHING is set)
    if _WATCHING and event == "open" and len(args) >= 2 and isinstance(args[1], str) and set(args[1]) & set("wax+"):
        _WRITES.append((str(args[0]), args[1]))


sys.addaudithook(_audit)


def _hub(tmp_path: Path, experience: Experience) -> Any:
    return replay_hub(tmp_path, {
        "experience_generator": replay([json.dumps(experience.model_dump())]),
        "persona": replay([f"reply number {i}" for i in range(20)]),
        "selector": replay(['{"next_speaker": "Tomas"}', '{"next_speaker": "Aisha"}'] * 10),
    })


def _comparable(result: JobResult) -> dict[str, Any]:
    """The result without wall-clock figures."""
    assert result.record is not None
    record = result.record.model_dump(exclude={"timing": True, "usage": True})
    events = [{k: v for k, v in e.items() if k not in ("t", "seconds")} for e in result.transcript]
    usage = {role: u.model_dump(exclude={"seconds"}) for role, u in result.usage.items()}
    return {"record": record, "events": events, "usage": usage}


async def test_a_job_is_a_pure_function_of_its_inputs(tmp_path: Path, experience: Experience) -> None:
    global _WATCHING
    prepared = prepare_run(tiny_request(tmp_path, n=1, seed=5, command_line=()))
    scenario = prepared.request.scenario
    driver = Driver(prepared, RunStore(tmp_path / "unused"), LocalExecutor(prepared.models, concurrency=1),
                    lambda p: None)
    shots = prepared.hub.sample()
    job = plan_job(3, scenario=scenario, run_seed=5, shots=shots, names=[])
    assert job == plan_job(3, scenario=scenario, run_seed=5, shots=shots, names=[])  # planning is deterministic too

    results = []
    for attempt in range(2):
        (tmp_path / f"models{attempt}").mkdir()  # fresh scripted clients, same script
        hub = _hub(tmp_path / f"models{attempt}", experience)
        _WRITES.clear()
        _WATCHING = True
        try:
            results.append(await run_job(job, driver.context, hub))
        finally:
            _WATCHING = False
        assert _WRITES == [], f"a job wrote files: {_WRITES}"
    first, second = results
    assert first.record is not None and first.failure is None
    assert first.record.id == "c000003" and first.record.provenance.seed == 5 * 1_000_003 + 3
    assert len(first.record.turns) == job.num_turns
    assert _comparable(first) == _comparable(second)
    assert not (tmp_path / "run").exists() and not (tmp_path / "unused").exists()
