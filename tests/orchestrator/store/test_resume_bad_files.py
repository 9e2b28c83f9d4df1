"""`--resume` on a run whose own files are damaged (a truncated manifest, a hand-edited hub)
exits 2 with one line naming the file, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import run
from orchestrator.store.layout import HUB, MANIFEST
from tests.helpers import FIXTURES


def _resume(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert run.main(["--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: --resume: ")
    return err


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(FIXTURES / "run_small", target)
    return target


def test_a_truncated_manifest_is_one_line(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (run_dir / MANIFEST).read_text()
    (run_dir / MANIFEST).write_text(text[: len(text) // 2])
    err = _resume(run_dir, capsys)
    assert f"{run_dir / MANIFEST}: not valid JSON" in err


@pytest.mark.parametrize("content", [b"[1, 2]", b"\xff\xfe{}", b'{"scenario": 5}', b"[" * 100_000])
def test_a_manifest_of_the_wrong_kind_is_one_line(run_dir: Path, capsys: pytest.CaptureFixture[str],
                                                   content: bytes) -> None:
    (run_dir / MANIFEST).write_bytes(content)
    assert str(run_dir / MANIFEST) in _resume(run_dir, capsys)


def test_a_manifest_asking_for_a_billion_conversations_is_refused(run_dir: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    manifest = json.loads((run_dir / MANIFEST).read_text())
    manifest["num_conversations_requested"] = 10**9
    (run_dir / MANIFEST).write_text(json.dumps(manifest))
    assert "field 'num_conversations': must be at most 1,000,000" in _resume(run_dir, capsys)


def test_a_damaged_hub_is_one_line(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (run_dir / HUB).write_text('{"shots": 5}')
    manifest = json.loads((run_dir / MANIFEST).read_text())
    assert manifest["scenario"]  # the fixture's manifest is a real one: only the hub is at fault
    err = _resume(run_dir, capsys)
    assert f"{run_dir / HUB}: not a few-shot hub" in err
