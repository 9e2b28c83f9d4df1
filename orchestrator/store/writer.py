"""The run directory: append-only JSONL records (flushed and fsynced per record), one
transcript file per conversation, the few-shot hub and the manifest (atomic rewrites).

Writes run in order on one background thread: an fsync or a rename blocks ~3 ms, and at 256
conversations in flight those waits, taken on the event loop, stalled every conversation
(~20% of a scale run's wall time). Data is encoded on the caller's thread; `drain()` (async)
or a read waits for everything written so far to be on disk; the manifest write drains first.
A failed write raises on the next store call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from agents.errors import UserError
from orchestrator.store.jsonl import encode_line, read_jsonl
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

RecordT = TypeVar("RecordT", bound=BaseModel)


def _encode(data: Any, *, indent: int | None = 2) -> str:
    # json.dumps without indent runs the C encoder; json.dump or an indent run pure Python (~6x slower)
    return json.dumps(data, ensure_ascii=False, indent=indent, default=str)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _atomic_write_json(path: Path, data: Any, *, indent: int | None = 2) -> None:
    _atomic_write(path, _encode(data, indent=indent))


class _Writer:
    """Runs write jobs in submission order on one thread, which exits when idle."""

    IDLE_SECONDS = 1.0

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], None], bool]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self.error: BaseException | None = None

    def submit(self, job: Callable[[], None], *, always: bool = False) -> None:
        """Queue a write; `always` jobs (wake-ups) run even after a failed write."""
        if not always:
            self.raise_error()
        with self._lock:
            self._pending += 1
            self._jobs.put((job, always))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="run-store-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                job, always = self._jobs.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        self._thread = None
                        return
                continue
            try:
                if self.error is None or always:  # after a failure nothing else is written
                    job()
            except BaseException as exc:
                self.error = exc
            finally:
                with self._lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.notify_all()

    def wait(self) -> None:
        with self._lock:
            self._idle.wait_for(lambda: self._pending == 0)
        self.raise_error()

    async def drain(self) -> None:
        """Wait, without blocking the event loop, until every job submitted so far is done."""
        with self._lock:
            if self._pending == 0:
                self.raise_error()
                return
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def resolve() -> None:
            if not done.done():
                done.set_result(None)

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (Ctrl-C): nobody waits
                loop.call_soon_threadsafe(resolve)

        self.submit(wake, always=True)
        await done
        self.raise_error()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._writer = _Writer()
        self._hub_text: str | None = None  # the newest hub state not yet written
        self._hub_lock = threading.Lock()
        self._shot_json: dict[str, str] = {}  # hub shots are immutable: each encoded once

    async def drain(self) -> None:
        """Everything written so far is on disk (fsynced) when this returns."""
        await self._writer.drain()

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

    def complete_records(self, name: str, model: type[RecordT]) -> list[RecordT]:
        """The records of a JSONL file that were written completely. A torn last line (a write cut
        by a crash: not a valid record) is cut off the file so appends stay clean.
        A bad line before the last one is damage no crash causes: a UserError, nothing is cut."""
        self._writer.wait()
        path = self.root / name
        if not path.exists():
            return []
        content = read_jsonl(path, model.model_validate_json)
        if content.damaged:
            bad = content.damaged[0]
            raise UserError(f"--resume: {path}: line {bad.number} {bad.problem} ({bad.detail}); only a torn last "
                            "line can be repaired, so this run cannot be resumed")
        if content.complete_size != content.size:
            with path.open("r+b") as fh:
                fh.truncate(content.complete_size)
                fh.flush()
                os.fsync(fh.fileno())
        elif content.unterminated:  # a whole last record cut before its newline: end it, so appends stay clean
            with path.open("ab") as fh:
                fh.write(b"\n")
                fh.flush()
                os.fsync(fh.fileno())
        return content.records

    def rewrite_records(self, name: str, records: Sequence[BaseModel]) -> None:
        """Replace a JSONL file's records (atomically: a crash leaves the old file or the new one)."""
        self._writer.wait()
        _atomic_write(self.root / name, "".join(encode_line(record) for record in records))

    def load_json(self, name: str) -> Any:
        self._writer.wait()
        path = self.root / name
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def _append(self, name: str, record: BaseModel) -> None:
        line = encode_line(record)
        path = self.root / name

        def write() -> None:
            with path.open("a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())

        self._writer.submit(write)

    def append_conversation(self, record: BaseModel) -> None:
        self._append(CONVERSATIONS, record)

    def append_failure(self, record: BaseModel) -> None:
        self._append(FAILURES, record)

    def append_rejected(self, record: BaseModel) -> None:
        """A candidate the critic panel rejected, with its verdicts."""
        self._append(REJECTED, record)

    def write_iterations(self, report: list[dict[str, Any]]) -> None:
        """The Generator-Critic per-iteration report, rewritten after every iteration."""
        path, text = self.root / ITERATIONS, _encode(report)
        self._writer.submit(lambda: _atomic_write(path, text))

    def write_transcript(self, conversation_id: str, events: list[dict[str, Any]]) -> Path:
        path = transcript_path(self.root, conversation_id)
        text = "".join(encode_line(event) for event in events)
        self._writer.submit(lambda: _atomic_write(path, text))
        return path

    def save_hub(self, state: dict[str, Any]) -> None:
        """Rewritten many times per run and grows with it: compact, each shot encoded once,
        and a save still queued when a newer one arrives writes the newer state instead."""
        shots = state.get("shots")
        if not isinstance(shots, list):
            text = _encode(state, indent=None)
        else:
            rest = _encode({k: v for k, v in state.items() if k != "shots"}, indent=None)
            encoded = []
            for shot in shots:
                key = shot.get("id") if isinstance(shot, dict) else None
                if key is None:
                    encoded.append(_encode(shot, indent=None))
                    continue
                if key not in self._shot_json:
                    self._shot_json[key] = _encode(shot, indent=None)
                encoded.append(self._shot_json[key])
            text = rest[:-1] + ("," if len(rest) > 2 else "") + '"shots":[' + ",".join(encoded) + "]}"
            if len(self._shot_json) > 2 * len(shots):  # shots that left the hub: forget their text
                live = {shot.get("id") for shot in shots if isinstance(shot, dict)}
                self._shot_json = {k: v for k, v in self._shot_json.items() if k in live}
        with self._hub_lock:
            queued, self._hub_text = self._hub_text is not None, text
        if not queued:
            self._writer.submit(self._write_hub)

    def _write_hub(self) -> None:
        with self._hub_lock:
            text, self._hub_text = self._hub_text, None  # the newest state at the time of writing
        if text is not None:
            _atomic_write(self.root / HUB, text)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Written synchronously after everything queued before it: a manifest never claims
        records that are not on disk yet."""
        self._writer.wait()
        _atomic_write_json(self.root / MANIFEST, manifest)
