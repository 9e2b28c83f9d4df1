"""End to end with people named in Chinese, Cyrillic, Arabic, Hebrew, Greek, Thai, Devanagari and
punctuation: every conversation is written, agents get distinct valid identifiers, and every
reader (records, inspect, report, export, evaluate) shows the display names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import run
from agents.schemas import Experience
from orchestrator.driver import execute_run
from orchestrator.prepare import prepare_run
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS
from orchestrator.store.records import ConversationRecord
from tests.helpers import replay, replay_hub, tiny_request

GROUPS = [["李雷", "Ёжик Петров", "نور"], ["שירה", "Ζωή", "!!"], ["สมชาย", "विजय", "..."]]
OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")


def renamed(experience: Experience, names: list[str]) -> str:
    data = experience.model_dump()
    old = [p["name"] for p in data["participants"]]
    mapping = dict(zip(old, names, strict=True))
    for person in data["participants"]:
        person["name"] = mapping[person["name"]]
    data["starter"]["speaker"] = mapping[data["starter"]["speaker"]]
    for relation in data["relations"]:
        relation["person_a"], relation["person_b"] = mapping[relation["person_a"]], mapping[relation["person_b"]]
    return json.dumps(data, ensure_ascii=False)


@pytest.fixture
def run_dir(tmp_path: Path, experience: Experience) -> Path:
    prepared = prepare_run(tiny_request(tmp_path, n=3, seed=3))
    prepared.models = replay_hub(tmp_path, {
        "experience_generator": replay([renamed(experience, names) for names in GROUPS]),
        "persona": replay([f"line {i} about the bakery and the storm" for i in range(60)]),
        "selector": replay(["??"] * 60),  # unusable picks: the least recent speaker goes next
    })
    import asyncio

    summary = asyncio.run(execute_run(prepared))
    assert (summary.written, summary.failed) == (3, 0), summary.failure_reasons
    return tmp_path / "run"


def test_names_in_any_script_are_written_with_distinct_valid_identifiers(run_dir: Path) -> None:
    records = read_jsonl(run_dir / CONVERSATIONS, ConversationRecord.model_validate_json).records
    assert [r.participants for r in records] == GROUPS
    for record, names in zip(records, GROUPS, strict=True):
        assert sorted(record.speaker_ids.values()) == sorted(names)
        assert all(OPENAI_NAME.match(i) and i.isidentifier() for i in record.speaker_ids)
        assert {t.speaker for t in record.turns} <= set(names)  # display names in the turns
        assert record.turns[0].speaker == record.experience.starter.speaker


def test_every_reader_shows_the_display_names(run_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["inspect", str(run_dir), "--width", "250"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for group in GROUPS for name in group)
    assert run.main(["inspect", str(run_dir), "c000000", "--width", "250"]) == 0
    assert "李雷" in capsys.readouterr().out
    report = tmp_path / "r.html"
    assert run.main(["report", str(run_dir), "--out", str(report)]) == 0
    html = report.read_text(encoding="utf-8")
    assert all(name in html for group in GROUPS for name in group)
    out = tmp_path / "chat.jsonl"
    assert run.main(["export", str(run_dir), "--format", "openai", "--out", str(out)]) == 0
    personas = {json.loads(line)["metadata"]["persona"] for line in out.read_text(encoding="utf-8").splitlines()}
    assert personas <= {name for group in GROUPS for name in group} and len(personas) >= 6
    capsys.readouterr()
    assert run.main(["evaluate", str(run_dir), "--no-judge", "--out", str(tmp_path / "eval")]) == 0
    assert "Traceback" not in capsys.readouterr().err
