"""The real embedded model (SmolLM2-135M via llama.cpp), end to end through the CLI."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
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
