"""`run.py export`: every format round-trips, anonymisation and --accepted-only hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import run
from evaluation.browse import export
from orchestrator.store import reader as rr
from orchestrator.store.jsonl import read_jsonl
from tests.helpers import FIXTURES

SMALL = FIXTURES / "run_small"
REAL_NAMES = ("Maria", "Vikram", "Goran", "Uma", "Sekou", "Felix", "Naledi", "Ida", "Abena")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [export.clean_record(r) for r in rr.load_run(SMALL).conversations]


def run_export(tmp_path: Path, fmt: str, *flags: str) -> Path:
    out = tmp_path / f"out.{fmt}"
    assert run.main(["export", str(SMALL), "--format", fmt, "--out", str(out), *flags]) == 0
    return out


def exported_records(path: Path) -> list[dict]:
    content = read_jsonl(path)
    assert not content.notes
    return content.records


def test_jsonl_round_trips_the_records(tmp_path, records):
    assert exported_records(run_export(tmp_path, "jsonl")) == records


def test_parquet_round_trips(tmp_path, records):
    import pyarrow.parquet as pq

    rows = pq.read_table(run_export(tmp_path, "parquet")).to_pylist()
    assert [json.loads(r["record_json"]) for r in rows] == records
    by_id = {r["id"]: r for r in rows}
    assert by_id["c000000"]["status"] == "rejected" and by_id["c000000"]["accepted"] is False
    assert by_id["c000001"]["score"] == 3.0
    assert by_id["c000001"]["turns"][0] == records[0]["turns"][0]


def test_hf_dataset_loads_with_load_from_disk(tmp_path, records):
    from datasets import load_from_disk

    dataset = load_from_disk(str(run_export(tmp_path, "hf")))
    assert dataset.num_rows == len(records)
    assert [json.loads(r) for r in dataset["record_json"]] == records
    assert dataset[0]["speakers"] == records[0]["participants"]
    assert len(dataset[1]["turns"]) == len(records[1]["turns"])


@pytest.mark.parametrize("fmt", ["openai", "sharegpt"])
def test_chat_formats_give_each_speaking_persona_its_own_turns(tmp_path, records, fmt):
    examples = exported_records(run_export(tmp_path, fmt))
    expected = {(r["id"], name) for r in records for name in {t["speaker"] for t in r["turns"]}}
    assert {
        (e["metadata"]["conversation_id"], e["metadata"]["persona"]) for e in examples
    } == expected
    for example in examples:
        record = next(r for r in records if r["id"] == example["metadata"]["conversation_id"])
        persona = example["metadata"]["persona"]
        own_turns = [t["text"] for t in record["turns"] if t["speaker"] == persona]
        if fmt == "openai":
            roles = [m["role"] for m in example["messages"]]
            contents = [m["content"] for m in example["messages"]]
            own = [c for role, c in zip(roles, contents, strict=True) if role == "assistant"]
        else:
            roles = [m["from"] for m in example["conversations"]]
            contents = [m["value"] for m in example["conversations"]]
            own = [c for role, c in zip(roles, contents, strict=True) if role == "gpt"]
        assert roles[0] == "system" and contents[0].startswith(f"You are {persona},")
        assert roles[-1] in ("assistant", "gpt")  # every example ends on the persona's reply
        assert own == own_turns  # the persona's own words, in order, nothing else
        assert all(
            role != roles[i + 1] for i, role in enumerate(roles[1:-1], start=1)
        )  # alternates


def test_anonymise_replaces_every_name_consistently(tmp_path, records):
    out = run_export(tmp_path, "jsonl", "--anonymise")
    text = out.read_text()
    for name in REAL_NAMES:
        assert f'"{name}' not in text and f" {name} " not in text, name
    anonymised = exported_records(out)
    first = anonymised[0]
    assert first["participants"] == ["Guest1", "Guest2", "Guest3", "Guest4"]
    assert {t["speaker"] for t in first["turns"]} <= set(first["participants"])
    assert first["experience"]["starter"]["speaker"] in first["participants"]
    # same words otherwise: texts differ only where names were
    assert [len(t["turns"]) for t in anonymised] == [len(r["turns"]) for r in records]
    assert first["id"] == records[0]["id"] and first["usage"] == records[0]["usage"]


def test_anonymised_chat_export_has_no_real_names(tmp_path):
    text = run_export(tmp_path, "sharegpt", "--anonymise").read_text()
    assert "Guest1" in text
    assert not any(name in text for name in ("Felix", "Naledi", "Sekou", "Vikram"))


def test_accepted_only_drops_rejected(tmp_path):
    ids = [r["id"] for r in exported_records(run_export(tmp_path, "jsonl", "--accepted-only"))]
    assert ids == ["c000001"]


def test_existing_output_is_refused_without_overwrite(tmp_path, capsys):
    out = run_export(tmp_path, "jsonl")
    assert run.main(["export", str(SMALL), "--format", "jsonl", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (
        run.main(["export", str(SMALL), "--format", "jsonl", "--out", str(out), "--overwrite"]) == 0
    )
