"""The Python API: `evaluation.evaluate_run`/`evaluate_runs` return the metrics and write only
when asked; `aevaluate_runs` inside an event loop; `import evaluation` loads nothing heavy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import evaluation
from agents.errors import UserError
from tests.helpers import FIXTURES, python_in_checkout


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    target = tmp_path / "run_a"
    shutil.copytree(FIXTURES / "eval_run", target)
    return target


def test_evaluate_run_returns_the_metrics_and_writes_nothing(run_dir: Path) -> None:
    lines: list[str] = []
    metrics = evaluation.evaluate_run(run_dir, log=lines.append)
    assert metrics["name"] == "run_a" and metrics["statistics"]["conversations"] == 2
    assert metrics["judge"] is None and 0 < metrics["distinct"]["distinct_1"] <= 1
    assert metrics["diversity"]["embedding_diversity"] is not None
    assert not (run_dir / "evaluation").exists()
    assert lines == ["evaluating run_a: 2 conversations"]


def test_evaluate_runs_writes_one_directory_per_input(run_dir: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "b.jsonl"
    shutil.copy(FIXTURES / "eval_truncated.jsonl", jsonl)
    metrics = evaluation.evaluate_runs([run_dir, jsonl], out=tmp_path / "out")
    assert [m["name"] for m in metrics] == ["run_a", "b"]
    assert any("truncated" in note for note in metrics[1]["notes"])
    written = json.loads((tmp_path / "out" / "run_a" / "metrics.json").read_text())
    assert written["compared_with"][0]["name"] == "b"
    assert (tmp_path / "out" / "b" / "report.md").exists()
    evaluation.evaluate_run(run_dir, write=True)  # the command line's default place
    assert (run_dir / "evaluation" / "metrics.json").exists()


async def test_aevaluate_runs_inside_an_event_loop(run_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="aevaluate_runs"):
        evaluation.evaluate_run(run_dir)
    [metrics] = await evaluation.aevaluate_runs(run_dir)
    assert metrics["statistics"]["conversations"] == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "at least one run directory"), ({"runs": ["x"], "judge_limit": 0}, "judge_limit: must be at least 1")],
)
def test_mistakes_are_user_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UserError, match=message):
        evaluation.evaluate_runs(**kwargs)  # type: ignore[arg-type]


def test_importing_the_package_loads_nothing(tmp_path: Path) -> None:
    code = (
        "import sys, evaluation\n"
        "assert not [m for m in sys.modules if m.startswith(('evaluation.', 'orchestrator'))], 'eager import'\n"
        "from evaluation import evaluate_run, evaluate_runs, aevaluate_runs\n"
    )
    done = python_in_checkout(code, tmp_path)
    assert done.returncode == 0, done.stderr
