"""`run.py inspect` on a real (hand-augmented) run and on an interrupted one."""

from __future__ import annotations

import json
import shutil

import pytest

import run
from evaluation.browse import inspect as inspect_cli
from orchestrator.store import reader as rr
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS, TRANSCRIPTS
from tests.helpers import FIXTURES

SMALL = FIXTURES / "run_small"
PARTIAL = FIXTURES / "run_partial"


def inspect(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert inspect_cli.main([*argv, "--width", "200"]) == 0
    return capsys.readouterr().out


def test_list_shows_every_conversation_with_status_and_score(capsys):
    out = inspect([str(SMALL)], capsys)
    assert "c000000" in out and "c000001" in out
    assert "accepted" in out and "rejected" in out
    assert "3.00" in out and "2.00" in out  # review quality scores
    assert "4: Felix, Naledi, Ida, Abena" in out


def test_show_prints_personas_turns_and_verdicts(capsys):
    out = inspect([str(SMALL), "c000000"], capsys)
    assert "qualities: careful, deliberate" in out  # persona card
    assert "conversation, 12 turns" in out
    assert "critic verdicts" in out and "repetition check failed" in out
    assert "agent transcript" not in out


def test_agents_flag_shows_model_calls_selector_and_tokens(capsys):
    out = inspect([str(SMALL), "c000000", "--agents"], capsys)
    assert "model call (persona)" in out
    assert "speaker_selected" in out and "from [Maria, Vikram, Goran, Sekou]" in out
    assert "critic_verdict" in out
    # token usage per role summed from the transcript matches the record's usage
    record = rr.load_run(SMALL).find("c000000")
    assert record is not None
    assert str(record["usage"]["selector"]["prompt_tokens"]) in out


def test_grep_narrows_the_list(capsys):
    out = inspect([str(SMALL), "--grep", "piano"], capsys)
    assert "c000001" in out and "c000000" not in out


def test_failed_lists_failures_with_reasons(capsys):
    out = inspect([str(SMALL), "--failed"], capsys)
    assert "c000002" in out and "duplicate participant names" in out


def test_list_paginates(tmp_path, capsys):
    record = read_jsonl(SMALL / CONVERSATIONS).records[0]
    lines = [json.dumps({**record, "id": f"x{i:03d}"}) for i in range(7)]
    (tmp_path / CONVERSATIONS).write_text("\n".join(lines) + "\n")
    out = inspect([str(tmp_path), "--page-size", "3", "--page", "2"], capsys)
    assert "page 2/3, 7 conversations" in out
    assert "x003" in out and "x005" in out and "x002" not in out and "x006" not in out
    assert "--page 3" in out


def test_partial_run_is_shown_with_notes_not_a_traceback(capsys):
    out = inspect([str(PARTIAL)], capsys)
    assert "manifest.json is missing" in out
    assert "last line is not valid JSON" in out
    assert "c000000" in out
    out = inspect([str(PARTIAL), "c000000", "--agents"], capsys)
    assert "transcripts/c000000.jsonl" not in out  # present, only its last line is cut
    assert "c000000.jsonl: last line is not valid JSON" in out


def test_missing_transcripts_are_noted(tmp_path, capsys):
    shutil.copytree(SMALL, tmp_path / "run")
    shutil.rmtree(tmp_path / "run" / TRANSCRIPTS)
    out = inspect([str(tmp_path / "run"), "c000001", "--agents"], capsys)
    assert "transcripts/ is missing" in out
    assert "transcripts/c000001.jsonl is missing" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["inspect", "/nonexistent/run"], "does not exist"),
        (["inspect", str(SMALL), "nope"], "no conversation 'nope'"),
        (["inspect", str(SMALL), "--page", "9"], "past the last page"),
        (["inspect", str(FIXTURES)], "is not a run directory"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(argv, message, capsys):
    assert run.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
