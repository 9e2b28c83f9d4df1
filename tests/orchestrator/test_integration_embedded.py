"""The real embedded model (SmolLM2-135M via llama.cpp), end to end through the CLI."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS, MANIFEST, transcript_path
from tests.helpers import ROOT

pytestmark = pytest.mark.integration


def test_short_multiparty_conversation_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "run.py", "--scenario", "tests/fixtures/foundation/tiny_real.yaml",
         "-n", "1", "--out", str(out), "--seed", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    records = read_jsonl(out / CONVERSATIONS).records
    assert len(records) == 1
    record = records[0]
    speakers = [t["speaker"] for t in record["turns"]]
    assert len(speakers) == 4
    assert len(set(speakers)) >= 3
    assert all(a != b for a, b in itertools.pairwise(speakers))
    assert set(speakers) <= set(record["participants"])
    assert record["turns"][0]["text"] == record["experience"]["starter"]["text"]
    assert record["usage"]["persona"]["completion_tokens"] > 0
    assert record["usage"]["selector"]["calls"] >= 1
    events = read_jsonl(transcript_path(out, record["id"])).records
    assert any(e["event"] == "speaker_selected" and e["method"] in {"llm", "fallback"} for e in events)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["status"] == "complete"
    assert "api_key" not in json.dumps(manifest).replace("api_key_env", "")


def test_ctrl_c_mid_run_stops_cleanly_and_the_run_resumes(tmp_path: Path) -> None:
    """A SIGINT while the model decodes: exit 130 at once with the interrupt message (no
    traceback, no crash), the manifest says "interrupted", and `--resume` completes the run."""
    out = tmp_path / "run"
    command = [sys.executable, "run.py", "--scenario", "tests/fixtures/foundation/tiny_real.yaml",
               "-n", "2", "--out", str(out), "--seed", "1"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as run:
        deadline = time.monotonic() + 120
        while not (out / MANIFEST).exists() or '"running"' not in (out / MANIFEST).read_text():
            assert run.poll() is None and time.monotonic() < deadline, "the run never started"
            time.sleep(0.2)
        time.sleep(4.0)  # into the first conversation's model calls (the engine is busy ~97% of a run)
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr[-2000:]
    assert "interrupted: records written so far are complete and kept" in stderr
    assert "Traceback" not in stderr and "Fatal Python error" not in stderr
    assert json.loads((out / MANIFEST).read_text())["status"] == "interrupted"
    resumed = subprocess.run([sys.executable, "run.py", "--resume", str(out)], cwd=ROOT, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((out / MANIFEST).read_text())["status"] == "complete"
    assert len(read_jsonl(out / CONVERSATIONS).records) == 2
