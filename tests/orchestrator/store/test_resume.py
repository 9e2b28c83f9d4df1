"""kill -9 at several moments, then `run.py --resume`: exactly the requested count, unique
ids, no partial records, the same per-index seeds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import (
    CONVERSATIONS,
    FAILURES,
    HUB,
    ITERATIONS,
    MANIFEST,
    REJECTED,
    TRANSCRIPTS,
    transcript_path,
)
from orchestrator.store.records import ConversationRecord
from tests.helpers import ROOT
from tests.sim_endpoint import models_yaml, running_endpoint

N = 24
SEED = 5


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SIM_API_KEY": "test-key"}
    return subprocess.Popen([sys.executable, "run.py", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_after(proc: subprocess.Popen[bytes], records: Path, at_least: int, deadline: float = 60) -> None:
    """SIGKILL once `at_least` records exist (0: as soon as the run has started writing)."""
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        if proc.poll() is not None:
            return
        if records.parent.joinpath(MANIFEST).exists() and _lines(records) >= at_least:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.01)
    pytest.fail("run did not progress")


@pytest.mark.integration  # real processes killed and restarted (~15 s)
def test_kill_9_then_resume_yields_exactly_the_requested_count(tmp_path: Path) -> None:
    with running_endpoint("--latency", "0.02", "--fault-rate", "0.1", "--hang-seconds", "1",
                          "--max-seconds", "170") as base_url:
        models = tmp_path / "models.yaml"
        models.write_text(models_yaml(base_url, timeout=0.5, extra="cache: {store: off}\n",
                                      extra_backend="    retry: {attempts: 8, initial_delay: 0.01, max_delay: 0.2}\n"))
        out = tmp_path / "run"
        records = out / CONVERSATIONS
        proc = _start(["--scenario", "multiparty", "-n", str(N), "--concurrency", "4", "--seed", str(SEED),
                       "--models", str(models), "--out", str(out)])
        kills = 0
        for at_least in (0, 3, 9, 16):  # kill before any record, then at several later points
            _kill_after(proc, records, at_least)
            kills += proc.returncode == -signal.SIGKILL
            proc = _start(["--resume", str(out), "--concurrency", "6"])
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    assert kills >= 3  # the run really was interrupted several times
    raw = records.read_bytes()
    assert raw.endswith(b"\n")
    parsed = read_jsonl(records, ConversationRecord.model_validate_json).records
    ids = [r.id for r in parsed]
    assert len(parsed) == N and len(set(ids)) == N
    # per-index seeds are the same as an uninterrupted run would have used
    assert all(r.provenance.seed == SEED * 1_000_003 + r.index for r in parsed)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["written"] == N
    failures = out / FAILURES
    failed = {r["index"] for r in read_jsonl(failures).records} if failures.exists() else set()
    assert not failed & {r.index for r in parsed}  # an index completes once
    hub = json.loads((out / HUB).read_text())
    assert len({s["id"] for s in hub["shots"]}) == len(hub["shots"])
    assert not list(out.glob("**/*.tmp"))


@pytest.mark.integration  # real processes killed and restarted
def test_kill_9_then_resume_a_generator_critic_run_yields_exactly_n_accepted(tmp_path: Path) -> None:
    scenario = ROOT / "tests" / "fixtures" / "scenarios" / "sim_critics.yaml"
    n = 6
    with running_endpoint("--latency", "0.03", "--fault-rate", "0.05", "--hang-seconds", "1",
                          "--max-seconds", "170") as base_url:
        models = tmp_path / "models.yaml"
        models.write_text(models_yaml(base_url, timeout=0.5, extra="cache: {store: off}\n",
                                      extra_backend="    retry: {attempts: 8, initial_delay: 0.01, max_delay: 0.2}\n"))
        out = tmp_path / "run"
        records = out / CONVERSATIONS
        proc = _start(["--scenario", str(scenario), "-n", str(n), "--concurrency", "2", "--seed", str(SEED),
                       "--models", str(models), "--out", str(out)])
        kills = 0
        for at_least in (0, 2, 4):
            _kill_after(proc, records, at_least)
            kills += proc.returncode == -signal.SIGKILL
            proc = _start(["--resume", str(out), "--concurrency", "3"])
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    assert kills >= 2
    parsed = read_jsonl(records, ConversationRecord.model_validate_json).records
    assert len(parsed) == n and len({r.id for r in parsed}) == n
    assert all(r.review is not None and r.review.decision == "accepted" for r in parsed)
    rejected_file = out / REJECTED
    rejected = [r["id"] for r in read_jsonl(rejected_file).records] if rejected_file.exists() else []
    assert len(rejected) == len(set(rejected))  # no candidate written twice
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["status"] == "complete"
    assert manifest["generator_critic"]["accepted"] == n
    report = json.loads((out / ITERATIONS).read_text())
    assert sum(it["accepted"] for it in report) == n


def test_resume_cuts_a_torn_last_line(tmp_path: Path) -> None:
    from orchestrator.store.writer import RunStore

    run = tmp_path / "run"
    run.mkdir()
    (run / MANIFEST).write_text("{}")
    store = RunStore.open(run)
    (run / FAILURES).write_bytes(b'{"id": "c000001", "ind')  # a write cut by kill -9
    (run / TRANSCRIPTS / "c000001.jsonl.tmp").write_text("half")  # a rewrite cut before its rename
    assert store.complete_records(FAILURES, ConversationRecord) == []
    assert (run / FAILURES).read_bytes() == b""
    RunStore.open(run)
    assert not (run / TRANSCRIPTS / "c000001.jsonl.tmp").exists()


async def test_store_writes_leave_the_event_loop_but_keep_their_order(tmp_path: Path) -> None:
    """Writes run on the store's writer thread: on disk, in order, after drain(); the hub keeps
    only its newest state; a failed write surfaces on the next store call."""
    from orchestrator.store.writer import RunStore

    store = RunStore.create(tmp_path / "run")
    for i in range(5):
        store.write_transcript(f"c{i:06d}", [{"event": "x", "i": i}])
        store.save_hub({"mode": "iterative", "shots": [{"id": f"s{j}", "n": j} for j in range(i + 1)]})
    await store.drain()
    assert json.loads((tmp_path / "run" / HUB).read_text())["shots"][-1] == {"id": "s4", "n": 4}
    assert all(transcript_path(tmp_path / "run", f"c{i:06d}").exists() for i in range(5))
    for path in (tmp_path / "run" / TRANSCRIPTS).iterdir():
        path.unlink()
    (tmp_path / "run" / TRANSCRIPTS).rmdir()  # the next transcript write fails
    store.write_transcript("c000009", [{"event": "x"}])
    with pytest.raises(FileNotFoundError):
        await store.drain()
    with pytest.raises(FileNotFoundError):
        store.write_manifest({"status": "interrupted"})
