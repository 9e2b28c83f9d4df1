"""`run.py evaluate` on fixture inputs: outputs written, table printed, user errors exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import run
from agents.errors import UserError
from evaluation import cli
from evaluation.corpus import load_path, persona_source_from_manifest
from orchestrator.store.layout import CONVERSATIONS, EVALUATION
from tests.helpers import FIXTURES


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    target = tmp_path / "run_a"
    shutil.copytree(FIXTURES / "eval_run", target)
    return target


def test_evaluate_writes_report_metrics_and_plots_and_prints_table(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonl = tmp_path / "b.jsonl"
    shutil.copy(FIXTURES / "eval_truncated.jsonl", jsonl)
    assert cli.main([str(run_dir), str(jsonl), "--no-judge"]) == 0
    out_dir = run_dir / EVALUATION
    for name in ("report.md", "metrics.json", "mtld.png", "words_per_turn.png"):
        assert (out_dir / name).stat().st_size > 0, name
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["statistics"]["conversations"] == 2
    assert metrics["mtld"]["measured"] + metrics["mtld"]["short_flagged"] == 2
    assert 0 < metrics["distinct"]["distinct_1"] <= 1
    assert metrics["diversity"]["embedding_diversity"] is not None
    assert metrics["judge"] is None
    assert metrics["compared_with"][0]["name"] == "b"
    printed = capsys.readouterr()
    assert (
        "run_a" in printed.out and "PERSONA-CHAT (paper)" in printed.out and "49.58" in printed.out
    )
    assert "truncated" in printed.err  # the JSONL's cut last line is reported, not fatal
    assert (tmp_path / "b-evaluation" / "report.md").exists()


def test_truncated_last_line_is_skipped_with_a_note() -> None:
    data = load_path(FIXTURES / "eval_truncated.jsonl")
    assert len(data.conversations) == 1
    assert any("line 2 is truncated" in note for note in data.notes)


def test_bad_middle_line_is_a_user_error(tmp_path: Path) -> None:
    good = (FIXTURES / "eval_run" / CONVERSATIONS).read_text().split("\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([good[0], "{not json", good[1]]) + "\n")
    with pytest.raises(UserError, match="line 2 is not valid JSON"):
        load_path(bad)


def test_run_py_reports_user_errors_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run.main(["evaluate", str(tmp_path / "missing")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    assert run.main(["evaluate"]) == 2


def test_persona_source_defaults_to_generated() -> None:
    assert persona_source_from_manifest({}) == "generated"
    assert (
        persona_source_from_manifest({"scenario": {"personas": {"source": "sampled"}}}) == "sampled"
    )
