"""JSONL as every run-file reader and writer handles it: lines split on "\\n" only, a torn last
line skipped (and cut by the writer), line separators inside text surviving every reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from evaluation.corpus import load_path
from orchestrator.store import reader as rr
from orchestrator.store.jsonl import encode_line, read_jsonl, split_lines
from orchestrator.store.layout import CONVERSATIONS, FAILURES, set_aside_name
from orchestrator.store.records import ConversationRecord, FailureRecord, Timing
from orchestrator.store.resume import restore
from orchestrator.store.writer import RunStore
from tests.helpers import FIXTURES

# Each ends a line for str.splitlines(); JSON may carry the last three raw inside a string.
SEPARATORS = "\x1c\x1d\x1e\u0085\u2028\u2029"
TEXT = f"one\u2028two\u2029three\u0085four, and the rest{SEPARATORS}"


def sample_record() -> ConversationRecord:
    content = read_jsonl(FIXTURES / "eval_run" / CONVERSATIONS, ConversationRecord.model_validate_json)
    record = content.records[0]
    turns = [turn.model_copy(update={"text": TEXT}) if i == 1 else turn for i, turn in enumerate(record.turns)]
    return record.model_copy(update={"turns": turns})


def test_lines_split_on_newline_only() -> None:
    data = f'{{"a": "{SEPARATORS}"}}\n\n  \n{{"b": 2}}'.encode()
    lines = split_lines(data)
    assert [(line.number, line.terminated) for line in lines] == [(1, True), (4, False)]
    assert lines[1].start == data.index(b'{"b"')


def test_encoded_lines_carry_no_raw_line_separator() -> None:
    line = encode_line({"text": TEXT})
    assert line.endswith("}\n") and line.count("\n") == 1
    assert not any(c in line for c in "\u0085\u2028\u2029")
    assert len(line.splitlines()) == 1
    assert len(encode_line(sample_record()).splitlines()) == 1


def test_a_torn_last_line_is_skipped_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": ')
    content = read_jsonl(path)
    assert content.records == [{"a": 1}, {"b": 2}] and content.record_lines == [1, 2]
    assert content.torn is not None and content.complete_size == len(b'{"a": 1}\n{"b": 2}\n')
    assert content.notes == ["x.jsonl: last line is not valid JSON; line 3 is truncated (6 bytes), "
                             "probably by an interrupted write, and was skipped"]


def test_a_whole_last_record_without_its_newline_is_kept_and_the_writer_ends_it(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}')
    content = read_jsonl(path)
    assert content.records == [{"a": 1}, {"b": 2}]
    assert content.torn is None and content.unterminated
    run = tmp_path / "run"
    store = RunStore.create(run)
    (run / "conversations.jsonl").write_bytes(b'{"a": 1}\n{"b": 2}')
    assert len(store.complete_records("conversations.jsonl", _Anything)) == 2
    assert (run / "conversations.jsonl").read_bytes() == b'{"a": 1}\n{"b": 2}\n'  # ready for appends


class _Anything(BaseModel):
    model_config = ConfigDict(extra="allow")


def test_a_bad_line_before_the_last_is_damage_not_a_torn_write(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{oops\n[1]\n{"b": 2}\n')
    content = read_jsonl(path)
    assert content.records == [{"a": 1}, {"b": 2}] and content.record_lines == [1, 4]
    assert [(s.number, s.problem) for s in content.damaged] == [(2, "is not valid JSON"), (3, "is not a JSON object")]
    assert content.torn is None and content.complete_size == path.stat().st_size


def test_the_writer_moves_a_torn_line_and_damage_aside(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path / "run")
    failure = FailureRecord(id="c000001", index=1, scenario="s", stage="experience", reason="r", usage={},
                            timing=Timing(started_at="now", wall_seconds=0.0, llm_seconds=0.0))
    good = encode_line(failure).encode()
    path = tmp_path / "run" / FAILURES
    aside = tmp_path / "run" / set_aside_name(FAILURES)
    path.write_bytes(good + good[:-20])  # the second write was cut by a crash
    assert [r.id for r in store.complete_records(FAILURES, FailureRecord)] == ["c000001"]
    assert path.read_bytes() == good
    assert aside.read_bytes() == good[:-20] + b"\n"
    path.write_bytes(good + b"{}\n" + good)
    assert [r.id for r in store.complete_records(FAILURES, FailureRecord)] == ["c000001", "c000001"]
    assert path.read_bytes() == good + good  # every valid record kept, byte for byte
    assert aside.read_bytes() == good[:-20] + b"\n{}\n"
    assert store.set_aside[-1] == f"{FAILURES}: 1 invalid line(s) (line 2) moved to {set_aside_name(FAILURES)}"


@pytest.mark.parametrize("escaped", [True, False], ids=["written-by-RunStore", "raw-separators"])
async def test_line_separators_in_a_turn_survive_every_reader(tmp_path: Path, escaped: bool) -> None:
    record = sample_record()
    run = tmp_path / "run"
    store = RunStore.create(run)
    if escaped:
        store.append_conversation(record)
        await store.drain()
        raw = (run / CONVERSATIONS).read_bytes()
        assert "\u2028".encode() not in raw and b"\\u2028" in raw
    else:  # an older writer's file, or one written by hand: the separators are raw
        (run / CONVERSATIONS).write_text(record.model_dump_json() + "\n", encoding="utf-8")
        assert "\u2028".encode() in (run / CONVERSATIONS).read_bytes()
    store.write_manifest({"status": "interrupted"})

    assert rr.load_run(run).conversations[0]["turns"][1]["text"] == TEXT
    assert load_path(run).conversations[0].turns[1].text == TEXT
    restored = restore(RunStore.open(run), generator_critic=True)
    assert restored.written == [record.index]
    resumed = restored.decided[record.index].record
    assert resumed is not None and resumed.turns == record.turns
