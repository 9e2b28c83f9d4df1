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
from orchestrator.store.jsonl import SkippedLine, encode_line, read_jsonl
from orchestrator.store.layout import (
    CONVERSATIONS,
    FAILURES,
    HUB,
    ITERATIONS,
    MANIFEST,
    REJECTED,
    TRANSCRIPTS,
    retried_transcript_name,
    set_aside_name,
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


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
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
        self.set_aside: list[str] = []  # what `complete_records` moved aside, for the run's summary

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
        """Every valid record of a JSONL file, kept as written. Lines that hold no valid record (a
        torn last line a crash left, garbage, a record of the wrong shape) are moved aside, raw,
        to `set_aside_name(name)`, and named in `self.set_aside`, so appends stay clean and
        nothing on disk is lost."""
        self._writer.wait()
        path = self.root / name
        if not path.exists():
            return []
        content = read_jsonl(path, model.model_validate_json)
        bad = [*content.damaged, *([content.torn] if content.torn is not None else [])]
        if bad:
            self._move_aside(name, bad)
        elif content.unterminated:  # a whole last record cut before its newline: end it, so appends stay clean
            with path.open("ab") as fh:
                fh.write(b"\n")
                fh.flush()
                os.fsync(fh.fileno())
        return content.records

    def _move_aside(self, name: str, bad: Sequence[SkippedLine]) -> None:
        """Append the bad lines to the set-aside file (fsynced), then replace the record file by
        its other lines, byte for byte (atomically). A crash in between leaves the bad lines in
        both: the next resume sets them aside again, never loses one."""
        path, aside = self.root / name, self.root / set_aside_name(name)
        data = path.read_bytes()
        ranges = sorted((line.start, line.end if line.end >= 0 else len(data)) for line in bad)
        with aside.open("ab") as fh:
            fh.write(b"".join(data[start:end] + b"\n" for start, end in ranges))
            fh.flush()
            os.fsync(fh.fileno())
        kept, position = [], 0
        for start, end in ranges:
            kept.append(data[position:start])
            position = end + 1  # the bad line's newline goes with it
        kept.append(data[position:])
        text = b"".join(kept)
        if text and not text.endswith(b"\n"):
            text += b"\n"
        _atomic_write_bytes(path, text)
        self.set_aside.append(f"{name}: {len(bad)} invalid line(s) (line {', '.join(str(b.number) for b in bad)}) "
                              f"moved to {set_aside_name(name)}")

    def move_records(self, source: str, target: str, moved: Sequence[BaseModel], kept: Sequence[BaseModel]) -> None:
        """Move records from one JSONL file to the end of another: appended there (fsynced)
        before `source` is rewritten with `kept` (atomically), so a crash never loses one."""
        self._writer.wait()
        with (self.root / target).open("a", encoding="utf-8") as fh:
            fh.write("".join(encode_line(record) for record in moved))
            fh.flush()
            os.fsync(fh.fileno())
        _atomic_write(self.root / source, "".join(encode_line(record) for record in kept))

    def retire_transcript(self, conversation_id: str) -> None:
        """Keep a failed conversation's transcript under a new name before its index runs again."""
        self._writer.wait()
        path = transcript_path(self.root, conversation_id)
        if path.exists():
            attempt = 1
            while (self.root / retried_transcript_name(conversation_id, attempt)).exists():
                attempt += 1
            os.replace(path, self.root / retried_transcript_name(conversation_id, attempt))

    def rewrite_records(self, name: str, records: Sequence[BaseModel]) -> None:
        """Replace a JSONL file's records (atomically: a crash leaves the old file or the new one)."""
        self._writer.wait()
        _atomic_write(self.root / name, "".join(encode_line(record) for record in records))

    def load_json(self, name: str) -> Any:
        """A JSON file of the run (None when absent); unreadable, not UTF-8 or not JSON is a
        UserError naming the file and where it breaks (a truncated manifest, a hand edit)."""
        self._writer.wait()
        path = self.root / name
        if not path.exists():
            return None
        try:
            return json.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise UserError(f"--resume: {path}: not UTF-8 text (bad byte at byte offset {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise UserError(f"--resume: {path}: not valid JSON ({exc.msg} at line {exc.lineno}, column "
                            f"{exc.colno}); the run cannot be resumed from it") from None
        except (OSError, RecursionError, ValueError) as exc:
            raise UserError(f"--resume: {path}: cannot be read ({type(exc).__name__})") from None

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
