"""The run directory: append-only JSONL records (flushed and fsynced per record), one
transcript file per conversation, the few-shot hub and the manifest (atomic rewrites)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from orchestrator.errors import UserError

CONVERSATIONS = "conversations.jsonl"
FAILURES = "failures.jsonl"
REJECTED = "rejected.jsonl"
ITERATIONS = "iterations.json"
MANIFEST = "manifest.json"
HUB = "hub.json"
TRANSCRIPTS = "transcripts"


def _atomic_write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=2, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.transcripts = root / TRANSCRIPTS

    @classmethod
    def create(cls, root: Path) -> RunStore:
        if (root / CONVERSATIONS).exists() or (root / MANIFEST).exists():
            raise UserError(f"--out: {root} already holds a run; choose a new directory")
        try:
            (root / TRANSCRIPTS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"--out: cannot create {root}: {exc.strerror}") from None
        return cls(root)

    @classmethod
    def open(cls, root: Path) -> RunStore:
        """An existing run directory, to resume it."""
        if not (root / MANIFEST).exists():
            raise UserError(f"--resume: {root} is not a run directory (no {MANIFEST})")
        (root / TRANSCRIPTS).mkdir(parents=True, exist_ok=True)
        for leftover in [*root.glob("*.tmp"), *(root / TRANSCRIPTS).glob("*.tmp")]:
            leftover.unlink()  # an atomic rewrite interrupted before its rename
        return cls(root)

    def complete_records(self, name: str, model: type[BaseModel]) -> list[Any]:
        """The records of a JSONL file that were written completely. A line cut short by a crash
        (no newline, or not a valid record) is removed from the file so appends stay clean."""
        path = self.root / name
        if not path.exists():
            return []
        raw = path.read_bytes()
        records, offset = [], 0
        for line in raw.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                records.append(model.model_validate_json(line))
            except ValueError:
                break  # only the last line can be torn; nothing after it was written
            offset += len(line)
        if offset != len(raw):
            with path.open("r+b") as fh:
                fh.truncate(offset)
                fh.flush()
                os.fsync(fh.fileno())
        return records

    def load_json(self, name: str) -> Any:
        path = self.root / name
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def _append(self, name: str, record: BaseModel) -> None:
        line = record.model_dump_json() + "\n"
        with (self.root / name).open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def append_conversation(self, record: BaseModel) -> None:
        self._append(CONVERSATIONS, record)

    def append_failure(self, record: BaseModel) -> None:
        self._append(FAILURES, record)

    def append_rejected(self, record: BaseModel) -> None:
        """A candidate the critic panel rejected, with its verdicts."""
        self._append(REJECTED, record)

    def write_iterations(self, report: list[dict[str, Any]]) -> None:
        """The Generator-Critic per-iteration report, rewritten after every iteration."""
        _atomic_write_json(self.root / ITERATIONS, report)

    def write_transcript(self, conversation_id: str, events: list[dict[str, Any]]) -> Path:
        path = self.transcripts / f"{conversation_id}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for event in events:
                fh.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return path

    def save_hub(self, state: dict[str, Any]) -> None:
        _atomic_write_json(self.root / HUB, state)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        _atomic_write_json(self.root / MANIFEST, manifest)
