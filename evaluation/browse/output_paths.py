"""Where the viewers may write: outputs never overwrite inputs.

`export --out` is refused anywhere inside the run directory (and on any folder holding it, which
`--overwrite` would delete); `report --out` may sit inside the run directory, as its default
RUN_DIR/report.html does, but only as an HTML file, never on one of the run's own files.
"""

from __future__ import annotations

from pathlib import Path

from agents.errors import UserError
from orchestrator.store.layout import MANIFEST


def _run_directory(source: Path) -> Path | None:
    """The run directory a viewer reads: RUN_DIR itself, or the folder of a conversations .jsonl
    when that folder is a run (it holds a manifest)."""
    if source.is_dir():
        return source
    return source.parent if (source.parent / MANIFEST).exists() else None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_export_target(out: Path, source: Path) -> None:
    """Refuse an export destination inside the run it reads, or holding it."""
    target, read = out.resolve(), source.resolve()
    if target == read or read in target.parents:
        raise UserError(f"--out: {out} is the input {source} itself; export writes a new file, outside the run")
    if _inside(read, target):
        raise UserError(f"--out: {out} holds the input {source}; choose a destination outside it")
    run = _run_directory(read)
    if run is not None and _inside(target, run):
        raise UserError(f"--out: {out} is inside the run directory {run}; export writes outside the run, so "
                        "no run file can be replaced")


def check_report_target(out: Path, source: Path) -> None:
    """Refuse a report destination that is the input, holds it, or is a run file other than HTML."""
    target, read = out.resolve(), source.resolve()
    if target == read or _inside(read, target):
        raise UserError(f"--out: {out} is (or holds) the input {source}; write the report to a new .html file")
    run = _run_directory(read)
    if run is not None and _inside(target, run) and target.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--out: {out} is inside the run directory {run} and is not an .html file; a report "
                        "there may only be an HTML file, so no run file can be replaced")
