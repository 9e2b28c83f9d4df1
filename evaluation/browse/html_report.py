"""`python run.py report RUN_DIR [--out FILE]`: one self-contained HTML file to browse a run.

Everything is inlined (CSS, JS, figures as data: URIs) and a Content-Security-Policy forbids
any network access, so the file opens offline from disk. The conversation index is one
compact JSON table; each conversation's details sit in their own JSON script element and are
parsed only when opened, which keeps 10,000-conversation runs fast to open.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from agents.errors import UserError
from evaluation.browse.output_paths import check_report_target
from orchestrator.store import reader as rr
from orchestrator.store.layout import EVALUATION_METRICS, EVALUATION_REPORT, REPORT_HTML

ASSETS = Path(__file__).with_name("report_assets")
REPLY_CHARS = 240  # model-call replies are previews; the full text is in the transcript file
TOPIC_CHARS = 80
INDEX_COLUMNS = (
    "i",
    "id",
    "scenario",
    "status",
    "speakers",
    "names",
    "turns",
    "score",
    "topic",
    "search",
)


# Inside <script> the HTML tokenizer still looks for "</script", and "<!--" followed by "<script"
# switches it into the double-escaped state, where the element's own "</script>" no longer ends
# it: the data would swallow the report's script. As \u escapes inside JSON strings (the only
# place these characters can occur in JSON) they decode to the same text and the tokenizer never
# sees a "<", ">" or "&"; U+2028/U+2029 are escaped too, for tools that read the JSON as JavaScript.
_SCRIPT_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                                 "\u2028": "\\u2028", "\u2029": "\\u2029"})


def script_json(value: Any) -> str:
    """JSON to embed in a <script> element: no data can end the element or change how the
    tokenizer reads it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_SCRIPT_ESCAPES)


def _short(text: Any, limit: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def index_row(i: int, record: dict[str, Any]) -> list[Any]:
    names = rr.display_names(record)
    speakers = [names.get(s, s) for s in rr.speakers(record)]
    topic = _short(rr.experience(record).get("topic", ""), TOPIC_CHARS)
    search = " ".join([str(record.get("id", "")), topic, *speakers]).casefold()
    return [
        i,
        str(record.get("id", f"#{i}")),
        str(record.get("scenario", "?")),
        rr.status(record),
        len(speakers),
        ", ".join(speakers),
        len(rr.turns(record)),
        rr.score(record),
        topic,
        search,
    ]


def conversation_detail(
    run: rr.RunData, record: dict[str, Any], with_transcripts: bool
) -> dict[str, Any]:
    events: list[dict[str, Any]] = []
    notes: list[str] = []
    if with_transcripts and record.get("id"):
        events, notes = rr.read_transcript(run, str(record["id"]))
    verdicts = rr.verdicts(record) or rr.transcript_verdicts(events)
    return {
        "experience": rr.experience(record),
        "names": rr.display_names(record),
        "turns": [t.model_dump() for t in rr.turns(record)],
        "selections": [
            {k: e.get(k) for k in ("speaker", "candidates", "method", "attempt") if k in e}
            for e in events
            if e.get("event") == "speaker_selected"
        ],
        "verdicts": [v.model_dump() for v in verdicts],
        "calls": [
            {
                "agent": e.get("agent"),
                "role": e.get("role"),
                "prompt_chars": e.get("prompt_chars"),
                "prompt_tokens": e.get("prompt_tokens"),
                "completion_tokens": e.get("completion_tokens"),
                "seconds": e.get("seconds"),
                "reply": _short(e.get("reply"), REPLY_CHARS),
            }
            for e in events
            if e.get("event") == "model_call"
        ],
        "notes": notes,
    }


def run_summary(run: rr.RunData) -> list[tuple[str, str]]:
    records = run.conversations
    by_status = {
        s: sum(rr.status(r) == s for r in records) for s in ("accepted", "rejected", "unreviewed")
    }
    turn_counts = [len(rr.turns(r)) for r in records]
    scores = [s for s in (rr.score(r) for r in records) if s is not None]
    summary = [("conversations", str(len(records)))]
    summary += [(status, str(count)) for status, count in by_status.items() if count]
    summary.append(("failures", str(len(run.failures))))
    if turn_counts:
        summary.append(("mean turns", f"{statistics.fmean(turn_counts):.1f}"))
    if scores:
        summary.append(("mean score", f"{statistics.fmean(scores):.2f}"))
    summary.append(("tokens", f"{sum(rr.total_tokens(r) for r in records):,}"))
    manifest = run.manifest or {}
    seconds = rr.as_number(manifest.get("seconds"))
    if seconds is not None and math.isfinite(seconds):
        summary.append(("run seconds", f"{seconds:.0f}"))
    return summary


def evaluation_assets(run: rr.RunData) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Figures as data: URIs, and the text reports, from RUN_DIR/evaluation/ when present."""
    folder = run.evaluation_dir
    if not folder.is_dir():
        return [], []
    figures = [
        (png.name, "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii"))
        for png in sorted(folder.glob("*.png"))
    ]
    texts = []
    for name in (EVALUATION_REPORT, EVALUATION_METRICS):
        path = folder / name
        if path.is_file():
            texts.append((name, path.read_text(encoding="utf-8", errors="replace")))
    return figures, texts


def build_report(run: rr.RunData, title: str, with_transcripts: bool = True) -> str:
    env = Environment(loader=FileSystemLoader(ASSETS), autoescape=select_autoescape(["html"]))
    rows = [index_row(i, r) for i, r in enumerate(run.conversations)]
    details = "\n".join(
        f'<script type="application/json" id="d{i}">'
        f"{script_json(conversation_detail(run, r, with_transcripts))}</script>"
        for i, r in enumerate(run.conversations)
    )
    figures, texts = evaluation_assets(run)
    return env.get_template("report.html").render(
        title=title,
        generated=datetime.now().isoformat(timespec="seconds"),
        notes=run.notes,
        summary=run_summary(run),
        config=json.dumps(run.manifest, indent=2, ensure_ascii=False) if run.manifest else "",
        figures=figures,
        evaluation_text=texts,
        failures=[
            {"id": f.get("id", "?"), "stage": f.get("stage", "?"), "reason": f.get("reason", "?")}
            for f in run.failures
        ],
        index_json=script_json({"columns": INDEX_COLUMNS, "rows": rows}),
        detail_scripts=details,
        css=(ASSETS / "report.css").read_text(encoding="utf-8"),
        js=(ASSETS / "report.js").read_text(encoding="utf-8").replace("</", "<\\/"),
    )


HELP = "write one offline HTML file to browse a run"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `report` on a command line's subparsers."""
    parser = subparsers.add_parser("report", help=HELP, description="Write a static HTML run browser.")
    parser.set_defaults(handler=handle)
    parser.add_argument("run_dir", type=Path, help="run directory (or a conversations .jsonl)")
    parser.add_argument(
        "--out", type=Path, help="HTML file to write (default: RUN_DIR/report.html)"
    )
    parser.add_argument(
        "--no-transcripts", action="store_true", help="leave out selector decisions and model calls"
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The `report` parser on its own (prog "run.py report")."""
    return add_parser(argparse.ArgumentParser(prog="run.py").add_subparsers())


def handle(args: argparse.Namespace) -> int:
    run = rr.load_run(args.run_dir)
    out = (
        args.out or (args.run_dir if args.run_dir.is_dir() else args.run_dir.parent) / REPORT_HTML
    )
    check_report_target(out, args.run_dir)
    html = build_report(
        run, title=args.run_dir.resolve().name, with_transcripts=not args.no_transcripts
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"--out: cannot write {out}: {exc.strerror}") from None
    for note in run.notes:
        print(f"note: {note}")
    print(
        f"wrote {out} ({len(html.encode('utf-8')) / 1e6:.2f} MB, "
        f"{len(run.conversations)} conversations)"
    )
    return 0


def main(argv: list[str]) -> int:
    return handle(build_parser().parse_args(argv))
