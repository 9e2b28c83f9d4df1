"""--resume keeps what is on disk: every valid record stays byte for byte, lines holding none
are moved aside to a file the summary names, and no index with a valid record runs again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from agents.schemas import Experience
from orchestrator.driver import RunSummary, execute_run
from orchestrator.prepare import RunRequest, prepare_run
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS, FAILURES, MANIFEST, RETRIED_FAILURES, set_aside_name
from orchestrator.store.records import ConversationRecord
from tests.helpers import replay, replay_hub, tiny_request


def _request(tmp_path: Path, n: int, **changes: object) -> RunRequest:
    return tiny_request(tmp_path, n=n, seed=5, **changes)


def _run(tmp_path: Path, request: RunRequest, experiences: list[str]) -> RunSummary:
    prepared = prepare_run(request)
    prepared.models = replay_hub(tmp_path, {
        "experience_generator": replay(experiences),
        "persona": replay([f"reply number {i}" for i in range(80)]),
        "selector": replay(["??"] * 80),
    })
    return asyncio.run(execute_run(prepared))


def test_garbage_in_the_middle_is_moved_aside_and_every_valid_record_kept(tmp_path: Path,
                                                                          experience: Experience) -> None:
    good = json.dumps(experience.model_dump())
    assert _run(tmp_path, _request(tmp_path, 4), [good] * 4).written == 4
    run_dir = tmp_path / "run"
    lines = (run_dir / CONVERSATIONS).read_bytes().splitlines(keepends=True)
    kept = [lines[0], lines[2], lines[3]]  # index 1 lost; garbage around the others
    garbage = [b"{not json at all\n", b'{"id": "c000009", "index": 9}\n', b"\xff\xfe binary\n"]
    damaged = kept[0] + garbage[0] + kept[1] + garbage[1] + garbage[2] + kept[2] + b'{"id": "c0000'
    (run_dir / CONVERSATIONS).write_bytes(damaged)
    summary = _run(tmp_path, _request(tmp_path, 4, resume=True), [good] * 4)
    assert (summary.written, summary.missing) == (4, 0)
    after = (run_dir / CONVERSATIONS).read_bytes().splitlines(keepends=True)
    assert after[:3] == kept  # the valid records, untouched
    records = read_jsonl(run_dir / CONVERSATIONS, ConversationRecord.model_validate_json).records
    assert sorted(r.index for r in records) == [0, 1, 2, 3]  # only index 1 ran again
    aside = (run_dir / set_aside_name(CONVERSATIONS)).read_bytes()
    assert aside == b"".join(garbage) + b'{"id": "c0000\n'
    assert summary.set_aside == [f"{CONVERSATIONS}: 4 invalid line(s) (line 2, 4, 5, 7) moved to "
                                 f"{set_aside_name(CONVERSATIONS)}"]
    assert json.loads((run_dir / MANIFEST).read_text())["set_aside"] == summary.set_aside


def test_retry_failed_runs_the_failed_indices_again(tmp_path: Path, experience: Experience) -> None:
    good = json.dumps(experience.model_dump())
    # index 0 is written, indices 1 and 2 fail (two bad experiences each): the budget of 2 is spent
    first = _run(tmp_path, _request(tmp_path, 3, max_failures=2), [good, "x", "x", "x", "x"])
    assert (first.written, first.failed, first.missing) == (1, 2, 2)
    run_dir = tmp_path / "run"
    manifest = json.loads((run_dir / MANIFEST).read_text())
    assert manifest["counts"]["missing"] == 2
    again = _run(tmp_path, _request(tmp_path, 3, resume=True, max_failures=2), [good] * 3)
    assert (again.written, again.missing) == (1, 2)  # without --retry-failed nothing is retried
    retried = _run(tmp_path, _request(tmp_path, 3, resume=True, max_failures=2, retry_failed=True), [good] * 3)
    assert (retried.written, retried.failed, retried.missing) == (3, 0, 0)
    records = read_jsonl(run_dir / CONVERSATIONS, ConversationRecord.model_validate_json).records
    assert sorted(r.index for r in records) == [0, 1, 2]  # the same indices, not new ones
    assert (run_dir / FAILURES).read_text() == ""
    assert [r["index"] for r in read_jsonl(run_dir / RETRIED_FAILURES).records] == [1, 2]
    assert (run_dir / "transcripts" / "c000001.failed-1.jsonl").exists()
    assert retried.usage["experience_generator"]["calls"] >= 7  # the failed attempts still count
