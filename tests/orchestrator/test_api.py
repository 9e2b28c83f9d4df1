"""The Python API: `orchestrator.generate`/`agenerate` against the simulated endpoint, `read_run`,
and a package import that loads nothing until a name is used."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import orchestrator
from agents.errors import UserError
from orchestrator.driver import Progress
from tests.helpers import FIXTURES, python_in_checkout
from tests.sim_endpoint import models_yaml, running_endpoint


@pytest.fixture
def sim_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SIM_API_KEY", "test-key")
    with running_endpoint("--latency", "0.01", "--max-seconds", "120") as base_url:
        path = tmp_path / "models.yaml"
        path.write_text(models_yaml(base_url, extra="cache: {store: off}\n"))
        yield path


def test_generate_writes_the_run_and_returns_its_records(tmp_path: Path, sim_models: Path) -> None:
    seen: list[int] = []

    def on_progress(progress: Progress) -> None:
        seen.append(progress.done)

    result = orchestrator.generate("multiparty", n=2, out=tmp_path / "run", models=sim_models, seed=3,
                                   concurrency=2, on_progress=on_progress)
    assert result.out_dir == tmp_path / "run" and result.summary.written == 2
    assert {r["index"] for r in result.records} == {0, 1} and all(r["turns"] for r in result.records)
    assert "_source" not in result.records[0]  # records as written, no reader bookkeeping
    assert result.records == orchestrator.read_run(tmp_path / "run")
    assert seen and max(seen) == 2
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["seed"] == 3


async def test_agenerate_runs_inside_an_event_loop(tmp_path: Path, sim_models: Path) -> None:
    with pytest.raises(RuntimeError, match="agenerate"):
        orchestrator.generate("dyadic", n=1, out=tmp_path / "never", models=sim_models)
    result = await orchestrator.agenerate("dyadic", n=1, out=tmp_path / "run", models=sim_models)
    assert result.summary.written == 1 and len(result.records) == 1
    assert not (tmp_path / "never").exists()


def test_read_run_skips_a_half_written_last_line(tmp_path: Path) -> None:
    lines = (FIXTURES / "eval_run" / "conversations.jsonl").read_text().splitlines()
    (tmp_path / "conversations.jsonl").write_text("\n".join([*lines, lines[0][:40]]))
    (tmp_path / "manifest.json").write_text("{}")
    assert [r["id"] for r in orchestrator.read_run(tmp_path)] == [json.loads(line)["id"] for line in lines]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n: must be at least 1"),
        ({"concurrency": 0}, "concurrency: must be at least 1"),
        ({"workers": 2}, "only with executor='ray'"),
        ({"scenario": "nosuch"}, "unknown scenario 'nosuch'"),
    ],
)
def test_mistakes_raise_user_errors_before_any_work(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message):
        orchestrator.generate(**{"out": tmp_path / "run", **kwargs})  # type: ignore[arg-type]
    assert not (tmp_path / "run").exists()


def test_importing_the_package_loads_no_submodule_and_works_from_any_directory(tmp_path: Path) -> None:
    code = (
        "import sys, orchestrator\n"
        "assert not [m for m in sys.modules if m.startswith('orchestrator.')], 'eager import'\n"
        "from orchestrator import generate, RunRequest, RunSummary, execute_run, read_run\n"
        "print(generate.__module__)\n"
    )
    done = python_in_checkout(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "orchestrator.api"


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        orchestrator.nosuch  # noqa: B018
    assert "generate" in dir(orchestrator)
    assert asyncio.iscoroutinefunction(orchestrator.agenerate)
