"""Ray executor on a real local Ray cluster (2 actors) against the simulated endpoint: exact N,
no index twice, a killed actor's jobs run again, a Generator-Critic run ends with N accepted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import load_models, load_scenario
from orchestrator.driver import Progress, execute_run
from orchestrator.executors.ray import RayExecutor, runtime_env
from orchestrator.prepare import RunRequest, prepare_run
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS, ITERATIONS, MANIFEST
from orchestrator.store.records import ConversationRecord
from tests.helpers import ROOT
from tests.sim_endpoint import models_yaml, running_endpoint

SIM_CRITICS = ROOT / "tests" / "fixtures" / "scenarios" / "sim_critics.yaml"
RETRY = "    retry: {attempts: 8, initial_delay: 0.01, max_delay: 0.2}\n"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray

    os.environ["SIM_API_KEY"] = "test-key"  # the cluster's workers inherit the environment it starts with
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env(),
             configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


def _records(run: Path) -> list[ConversationRecord]:
    return read_jsonl(run / CONVERSATIONS, ConversationRecord.model_validate_json).records


def _request(tmp_path: Path, base_url: str, n: int, *, scenario: str = "multiparty", workers: int = 2,
             concurrency: int = 3) -> RunRequest:
    models_file = tmp_path / "models.yaml"
    models_file.write_text(models_yaml(base_url, timeout=1.0, extra_backend=RETRY, extra="cache: {store: off}\n"))
    loaded, path = load_scenario(scenario)
    models, models_path = load_models(models_file)
    return RunRequest(scenario=loaded, scenario_path=path, models=models, models_path=models_path,
                      num_conversations=n, out_dir=tmp_path / "run", seed=3, concurrency=concurrency,
                      executor="ray", workers=workers)


def test_the_cli_writes_exactly_n_through_two_ray_actors(tmp_path: Path) -> None:
    """The command line as a user types it: a local Ray cluster is started for the run. The
    endpoint takes json_object only and the backend says `auto`: the actors, which run no
    preflight, use the mode the driver's preflight chose."""
    with running_endpoint("--latency", "0.02", "--fault-rate", "0.05", "--hang-seconds", "1",
                          "--accept-formats", "text,json_object", "--max-seconds", "200") as base_url:
        models_file = tmp_path / "models.yaml"
        models_file.write_text(models_yaml(base_url, timeout=1.0, extra_backend=RETRY + "    structured_output: auto\n",
                                           extra="cache: {store: off}\n"))
        env = {**os.environ, "SIM_API_KEY": "test-key"}
        proc = subprocess.run(
            [sys.executable, "run.py", "--scenario", "multiparty", "-n", "4", "--executor", "ray", "--workers", "2",
             "--models", str(models_file), "--out", str(tmp_path / "run")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = _records(tmp_path / "run")
    assert len(records) == 4 and len({r.index for r in records}) == 4
    manifest = json.loads((tmp_path / "run" / MANIFEST).read_text())
    assert manifest["status"] == "complete" and manifest["executor"]["name"] == "ray"
    assert manifest["executor"]["workers"] == 2
    assert sum(manifest["executor"]["jobs_by_worker"].values()) >= 4
    assert manifest["structured_output"] == {"sim": "json_object"}


async def test_two_actors_share_the_run_without_duplicates(tmp_path: Path, ray_cluster: None) -> None:
    with running_endpoint("--latency", "0.02", "--fault-rate", "0.05", "--hang-seconds", "1",
                          "--max-seconds", "200") as base_url:
        summary = await execute_run(prepare_run(_request(tmp_path, base_url, 12)))
    records = _records(tmp_path / "run")
    assert summary.written == 12 and len(records) == 12
    assert len({r.index for r in records}) == 12 and len({r.id for r in records}) == 12
    assert len(summary.executor["jobs_by_worker"]) == 2  # both actors ran jobs
    assert all(count > 0 for count in summary.executor["jobs_by_worker"].values())


async def test_a_killed_actor_does_not_cost_the_run(tmp_path: Path, ray_cluster: None) -> None:
    import ray

    with running_endpoint("--latency", "0.1", "--max-seconds", "200") as base_url:
        prepared = prepare_run(_request(tmp_path, base_url, 12))
        executor = RayExecutor(prepared.request.models, prepared.request.models_path, seed=3, workers=2,
                               concurrency=3)
        killed: list[Any] = []

        def kill_one(progress: Progress) -> None:
            if progress.done == 2 and not killed:  # mid-run: the actor holds jobs in flight
                killed.append(executor.actors[0])
                ray.kill(executor.actors[0], no_restart=True)

        summary = await execute_run(prepared, kill_one, executor=executor)
    records = _records(tmp_path / "run")
    assert killed, "the run finished before an actor could be killed"
    assert summary.written == 12 and len({r.index for r in records}) == 12 == len(records)
    assert summary.executor["actors_replaced"] == 1
    assert summary.executor["jobs_redispatched"] >= 1  # the dead actor's jobs ran again elsewhere


async def test_a_generator_critic_run_on_ray_ends_with_n_accepted(tmp_path: Path, ray_cluster: None) -> None:
    with running_endpoint("--latency", "0.02", "--max-seconds", "200") as base_url:
        request = _request(tmp_path, base_url, 4, scenario=str(SIM_CRITICS))
        summary = await execute_run(prepare_run(request))
    records = _records(tmp_path / "run")
    assert summary.stop_reason == "target reached"
    assert summary.written == 4 and len(records) == 4 and len({r.index for r in records}) == 4
    assert all(r.review is not None and r.review.decision == "accepted" for r in records)
    report = json.loads((tmp_path / "run" / ITERATIONS).read_text())
    assert sum(it["accepted"] for it in report) == 4
