"""export and report never write over the run they read: export refuses any path inside the run
directory (or holding it), report any run file that is not HTML."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import run
from orchestrator.store.layout import CONVERSATIONS, MANIFEST
from tests.helpers import FIXTURES


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    target = tmp_path / "runs" / "run"
    shutil.copytree(FIXTURES / "run_small", target)
    return target


def _refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("target", [CONVERSATIONS, MANIFEST, "transcripts/c000000.jsonl", "new.jsonl", "sub/x.jsonl",
                                    "."])
def test_export_refuses_any_path_inside_the_run(run_dir: Path, target: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    _refused(["export", str(run_dir), "--format", "jsonl", "--out", str(run_dir / target), "--overwrite"], capsys)
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_export_refuses_the_input_file_and_the_folders_holding_the_run(run_dir: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    records = run_dir / CONVERSATIONS
    before = records.read_bytes()
    _refused(["export", str(records), "--format", "jsonl", "--out", str(records), "--overwrite"], capsys)
    for holder in (run_dir.parent, run_dir.parent.parent):  # --overwrite would delete the whole run
        _refused(["export", str(run_dir), "--format", "hf", "--out", str(holder), "--overwrite"], capsys)
    # a symlinked or relative spelling of the run's own file is the same file
    link = run_dir.parent / "alias"
    link.symlink_to(run_dir)
    _refused(["export", str(run_dir), "--format", "jsonl", "--out", str(link / CONVERSATIONS), "--overwrite"], capsys)
    assert records.read_bytes() == before


def test_export_outside_the_run_still_works(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "run.jsonl"
    assert run.main(["export", str(run_dir), "--format", "jsonl", "--out", str(out)]) == 0
    assert out.read_text().count("\n") == 2  # the accepted conversation and the rejected candidate


def test_report_may_go_in_the_run_as_html_but_never_over_a_run_file(run_dir: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    before = (run_dir / CONVERSATIONS).read_bytes()
    for target in (run_dir / CONVERSATIONS, run_dir / MANIFEST, run_dir, run_dir.parent):
        _refused(["report", str(run_dir), "--out", str(target)], capsys)
    assert (run_dir / CONVERSATIONS).read_bytes() == before
    assert run.main(["report", str(run_dir)]) == 0  # the default, RUN_DIR/report.html
    assert run.main(["report", str(run_dir), "--out", str(run_dir / "other.html")]) == 0
