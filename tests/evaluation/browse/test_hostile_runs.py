"""inspect, report and export on runs holding records of the wrong type or text that looks like
terminal markup: no traceback; a wrong-typed record is a note naming file, line, field and value
for the viewers, and export refuses to drop it (exit 2, one line)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import run
from orchestrator.store.layout import CONVERSATIONS, FAILURES
from tests.helpers import FIXTURES


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(FIXTURES / "run_small", target)
    return target


def _edit_first(path: Path, change: dict[str, object]) -> str:
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record.update(change)
    lines[0] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    return str(record["id"])


VIEWERS = [["inspect"], ["inspect", "--failed"], ["inspect", "--grep", "a"], ["report", "--out", "{tmp}/r.html"]]


@pytest.mark.parametrize("change", [{"turns": 5}, {"participants": -1.5}, {"usage": {"persona": ["a"]}},
                                    {"experience": {"participants": [{"qualities": 3}]}},
                                    {"speaker_ids": {"a": 1}}, {"turns": [{"speaker": None, "text": []}]}])
def test_viewers_note_a_wrong_typed_record_and_show_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             change: dict[str, object]) -> None:
    run_dir = _copy(tmp_path)
    field = next(iter(change))
    _edit_first(run_dir / CONVERSATIONS, change)
    for command in VIEWERS:
        args = [a.replace("{tmp}", str(tmp_path)) for a in command]
        assert run.main([args[0], str(run_dir), *args[1:]]) == 0, command
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        if command == ["inspect"]:
            assert f"{CONVERSATIONS}: line 1: field '{field}" in out and "the record is not shown" in out
    assert run.main(["export", str(run_dir), "--format", "jsonl", "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert f"error: {CONVERSATIONS}: line 1: field '{field}" in err and err.count("\n") == 1
    assert not (tmp_path / "x.jsonl").exists()


def test_wrong_typed_failures_and_transcript_events_do_not_break_the_viewers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = _copy(tmp_path)
    _edit_first(run_dir / FAILURES, {"attempts": 7})
    conv_id = json.loads((run_dir / CONVERSATIONS).read_text().splitlines()[0])["id"]
    transcript = run_dir / "transcripts" / f"{conv_id}.jsonl"
    events = [{"event": "speaker_selected", "candidates": 5, "attempt": []},
              {"event": "model_call", "prompt_tokens": "many", "completion_tokens": [1], "reply": {"x": 1}},
              {"event": "critic_verdict", "verdict": "pass", "score": "high"}]
    transcript.write_text("".join(json.dumps(e) + "\n" for e in events))
    for args in (["inspect", str(run_dir), "--failed"], ["inspect", str(run_dir), conv_id, "--agents"],
                 ["report", str(run_dir), "--out", str(tmp_path / "r.html")]):
        assert run.main(args) == 0, args
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err


def test_text_that_looks_like_terminal_markup_is_printed_as_it_is(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = _copy(tmp_path)
    conv_id = _edit_first(run_dir / CONVERSATIONS, {"scenario": "[/bad]", "turns": [{"speaker": "[bold]x",
                                                                                     "text": "[/oops] [red]"}]})
    _edit_first(run_dir / FAILURES, {"reason": "[/reason]"})
    for args in ([], ["--failed"], [conv_id], ["--grep", "[/"]):
        assert run.main(["inspect", str(run_dir), *args, "--width", "200"]) == 0, args
        out = capsys.readouterr().out
        assert "Traceback" not in out
    assert run.main(["inspect", str(run_dir), conv_id, "--width", "200"]) == 0
    assert "[/oops] [red]" in capsys.readouterr().out
