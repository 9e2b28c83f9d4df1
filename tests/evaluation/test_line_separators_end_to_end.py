"""A model reply holding U+2028, U+2029 or U+0085 is one record from the writer to every reader:
conversations.jsonl stays one line per record (the separators escaped), and inspect, report,
export and evaluate each see the same records with the same text, also in a file an older
writer left with the separators raw."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

import run
from agents.schemas import Experience
from orchestrator.driver import execute_run
from orchestrator.prepare import prepare_run
from orchestrator.store.layout import CONVERSATIONS
from tests.helpers import FIXTURES, replay, replay_hub, tiny_request

SEPARATORS = ("\u2028", "\u2029", "\u0085")
REPLIES = [f"first half{sep}second half of reply {i}" for i in range(60) for sep in SEPARATORS[i % 3:i % 3 + 1]]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("separators")
    experience = Experience.model_validate(json.loads((FIXTURES / "foundation" / "experience_three.json").read_text()))
    prepared = prepare_run(tiny_request(tmp_path, n=3, seed=1))
    prepared.models = replay_hub(tmp_path, {
        "experience_generator": replay([json.dumps(experience.model_dump())] * 3),
        "persona": replay(REPLIES),
        "selector": replay(["??"] * 60),
    })
    assert asyncio.run(execute_run(prepared)).written == 3
    return tmp_path / "run"


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().decode("utf-8").split("\n") if line]


def _texts(records: list[dict[str, object]]) -> list[list[str]]:
    return [[t["text"] for t in r["turns"]] for r in records]  # type: ignore[attr-defined]


@pytest.mark.parametrize("raw", [False, True], ids=["as-written", "raw-separators"])
def test_a_reply_with_line_separators_survives_every_reader(run_dir: Path, tmp_path: Path, raw: bool,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    data = (run_dir / CONVERSATIONS).read_bytes()
    assert data.count(b"\n") == 3
    assert not any(sep.encode() in data for sep in SEPARATORS)  # escaped by the writer
    written = _records(run_dir / CONVERSATIONS)
    expected = _texts(written)
    assert sum(sep in text for turns in expected for text in turns for sep in SEPARATORS) >= 6
    source = run_dir
    if raw:  # an older writer's file, or a hand-made one: the separators are in the bytes
        source = tmp_path / "raw.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in written), encoding="utf-8")
        assert "\u2028".encode() in source.read_bytes()

    assert run.main(["inspect", str(source), "--width", "200"]) == 0
    listing = capsys.readouterr().out
    assert "3 conversations" in listing and "note:" not in listing

    report = tmp_path / "report.html"
    assert run.main(["report", str(source), "--out", str(report)]) == 0
    html = report.read_text(encoding="utf-8")
    details = re.findall(r'<script type="application/json" id="d\d+">(.*?)</script>', html)
    assert [[t["text"] for t in json.loads(d)["turns"]] for d in details] == expected

    exported = tmp_path / "export.jsonl"
    assert run.main(["export", str(source), "--format", "jsonl", "--out", str(exported)]) == 0
    assert _texts(_records(exported)) == expected
    chat = tmp_path / "chat.jsonl"
    assert run.main(["export", str(source), "--format", "openai", "--out", str(chat)]) == 0
    assistant = [m["content"] for e in _records(chat) for m in e["messages"] if m["role"] == "assistant"]  # type: ignore[attr-defined]
    assert any(sep in text for text in assistant for sep in SEPARATORS)
    capsys.readouterr()

    if not raw:  # evaluate measures the same records (the embedding model loads once: one variant)
        out = tmp_path / "evaluation"
        assert run.main(["evaluate", str(source), "--no-judge", "--out", str(out)]) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["statistics"]["conversations"] == 3  # no record split in two, none lost
        assert metrics["statistics"]["nT_mean"] == sum(map(len, expected)) / 3
        assert "Traceback" not in capsys.readouterr().err
