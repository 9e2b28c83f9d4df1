"""`python run.py inspect RUN_DIR [ID]`: read a run in the terminal.

Without ID: a paginated list of conversations (id, scenario, speakers, turns, status, score).
With ID: persona cards, the coloured conversation, critic verdicts; `--agents` adds the full
agent transcript (every model call, selector decision and verdict with token usage).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from rich.columns import Columns
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agents.errors import UserError
from agents.verdicts import Verdict
from orchestrator.store import reader as rr

SPEAKER_COLOURS = (
    "cyan",
    "magenta",
    "green",
    "yellow",
    "blue",
    "red",
    "bright_cyan",
    "bright_magenta",
)
STATUS_STYLE = {"accepted": "green", "rejected": "red", "unreviewed": "dim"}
REPLY_PREVIEW = 160


HELP = "read a run in the terminal"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `inspect` on a command line's subparsers."""
    parser = subparsers.add_parser("inspect", help=HELP, description="Inspect a run directory.")
    parser.set_defaults(handler=handle)
    parser.add_argument("run_dir", type=Path, help="run directory (or a conversations .jsonl)")
    parser.add_argument("id", nargs="?", help="conversation id to show in full")
    parser.add_argument("--agents", action="store_true", help="with ID: the full agent transcript")
    parser.add_argument("--grep", metavar="TEXT", help="list only conversations containing TEXT")
    parser.add_argument("--failed", action="store_true", help="list failures and why")
    parser.add_argument("--page", type=int, default=1, help="list page to show (default: 1)")
    parser.add_argument(
        "--page-size", type=int, default=25, help="rows per list page (default: 25)"
    )
    parser.add_argument("--width", type=int, help="terminal width (default: detected)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The `inspect` parser on its own (prog "run.py inspect")."""
    return add_parser(argparse.ArgumentParser(prog="run.py").add_subparsers())


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _score_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def print_notes(console: Console, notes: list[str]) -> None:
    for note in notes:
        console.print(Text.assemble(("note:", "yellow"), f" {note}"), highlight=False)


def list_conversations(
    console: Console, records: list[dict[str, Any]], page: int, page_size: int, title: str
) -> None:
    if page < 1 or page_size < 1:
        raise UserError(f"--page/--page-size: must be at least 1 (got {page}/{page_size})")
    pages = max(1, math.ceil(len(records) / page_size))
    if page > pages:
        raise UserError(f"--page: {page} is past the last page ({pages})")
    shown = records[(page - 1) * page_size : page * page_size]
    table = Table(title=f"{title} — page {page}/{pages}, {len(records)} conversations")
    for column in ("id", "scenario", "speakers", "turns", "status", "score", "tokens", "topic"):
        table.add_column(
            column,
            overflow="fold",
            justify="right" if column in {"turns", "score", "tokens"} else "left",
        )
    for record in shown:
        names = rr.display_names(record)
        speakers = [names.get(s, s) for s in rr.speakers(record)]
        status = rr.status(record)
        table.add_row(
            str(record.get("id", "?")),
            str(record.get("scenario", "?")),
            f"{len(speakers)}: {', '.join(speakers)}",
            str(len(rr.turns(record))),
            Text(status, style=STATUS_STYLE[status]),
            _score_text(rr.score(record)),
            str(rr.total_tokens(record)),
            _short(rr.experience(record).get("topic", ""), 40),
        )
    console.print(table)
    if page < pages:
        console.print(Text(f"next page: --page {page + 1}", style="dim"))


def list_failures(console: Console, failures: list[dict[str, Any]]) -> None:
    if not failures:
        console.print("no failures recorded")
        return
    table = Table(title=f"{len(failures)} failures")
    for column in ("id", "stage", "reason", "attempts"):
        table.add_column(column, overflow="fold")
    for failure in failures:
        attempts = failure.get("attempts")
        attempts = attempts if isinstance(attempts, list) else []
        reasons = [str(a.get("reason", a)) if isinstance(a, dict) else str(a) for a in attempts]
        table.add_row(
            str(failure.get("id", "?")),
            str(failure.get("stage", "?")),
            str(failure.get("reason", "?")),
            "\n".join(f"{i}. {_short(r, 100)}" for i, r in enumerate(reasons, 1)) or "—",
        )
    console.print(table)


def persona_cards(record: dict[str, Any], colours: dict[str, str]) -> Columns:
    cards = []
    for person in rr.personas(record):
        name = str(person.get("name", "?"))
        memory = person.get("memory")
        memory = memory if isinstance(memory, dict) else {}
        body = Text()
        body.append(f"age {person.get('age', '?')}\n", style="dim")
        body.append("qualities: ", style="bold")
        qualities = person.get("qualities")
        body.append(", ".join(map(str, qualities if isinstance(qualities, list) else [])) + "\n")
        for label, value in (
            ("life", person.get("lifestyle")),
            ("speaks", person.get("speech_style")),
            ("recently", memory.get("recent")),
            ("long ago", memory.get("long_term")),
        ):
            body.append(f"{label}: ", style="bold")
            body.append(_short(str(value or "—"), 160) + "\n")
        colour = colours.get(name, "white")
        cards.append(Panel(body, title=Text(name, style=f"bold {colour}"), width=44))
    return Columns(cards)


def speaker_colours(record: dict[str, Any]) -> dict[str, str]:
    """One colour per speaker, keyed by both agent name and display name."""
    colours: dict[str, str] = {}
    for i, (agent, shown) in enumerate(rr.display_names(record).items()):
        colours[agent] = colours[shown] = SPEAKER_COLOURS[i % len(SPEAKER_COLOURS)]
    return colours


VOTE_STYLES = {"pass": "green", "fail": "red"}  # abstain, skipped: dim


def verdict_table(verdicts: list[Verdict], title: str) -> Table:
    table = Table(title=title)
    for column in ("expert", "kind", "vote", "score", "rationale"):
        table.add_column(column, overflow="fold")
    for v in verdicts:
        vote = Text(v.status, VOTE_STYLES.get(v.status, "dim"))
        table.add_row(v.expert, v.role, vote, _score_text(v.score), v.rationale or "—")
    return table


def show_conversation(
    console: Console, run: rr.RunData, record: dict[str, Any], agents: bool
) -> None:
    colours = speaker_colours(record)
    names = rr.display_names(record)
    exp = rr.experience(record)
    status = rr.status(record)
    header = Text()
    header.append(f"{record.get('id', '?')}  ", style="bold")
    header.append(f"scenario {record.get('scenario', '?')}  ")
    header.append(status, style=STATUS_STYLE[status])
    header.append(f"  score {_score_text(rr.score(record))}  tokens {rr.total_tokens(record)}")
    console.print(header)
    console.print(
        Panel(
            Group(
                Text.assemble(("situation: ", "bold"), str(exp.get("situation", "—"))),
                Text.assemble(("topic: ", "bold"), str(exp.get("topic", "—"))),
                *[
                    Text.assemble(
                        ("relation: ", "bold"),
                        f"{r.get('person_a')} & {r.get('person_b')}: {r.get('relation')}",
                    )
                    for r in rr.relations(record)
                ],
            ),
            title="experience",
        )
    )
    console.print(persona_cards(record, colours))
    chat = Table.grid(padding=(0, 1))
    chat.add_column(justify="right", no_wrap=True)
    chat.add_column(overflow="fold")
    for turn in rr.turns(record):
        shown = names.get(turn.speaker, turn.speaker)
        chat.add_row(
            Text(shown, style=f"bold {colours.get(turn.speaker, 'white')}"), turn.text
        )
    console.print(Panel(chat, title=f"conversation, {len(rr.turns(record))} turns"))
    if rr.verdicts(record):
        console.print(verdict_table(rr.verdicts(record), "critic verdicts"))
    if agents:
        show_agent_transcript(console, run, str(record.get("id")), colours)


def _event_line(event: dict[str, Any]) -> tuple[str, str, str]:
    """(who, what, detail) for one transcript event."""
    kind = str(event.get("event", "?"))
    if kind == "model_call":
        tokens = f"{event.get('prompt_tokens', '?')}+{event.get('completion_tokens', '?')} tok"
        detail = (
            f"{event.get('n_messages', '?')} msgs, "
            f"{event.get('prompt_chars', '?')} chars prompt, {tokens}, "
            f"{event.get('seconds', '?')} s, finish={event.get('finish_reason', '?')}\n"
            f"→ {_short(str(event.get('reply', '')), REPLY_PREVIEW)}"
        )
        return str(event.get("agent", "?")), f"model call ({event.get('role', '?')})", detail
    if kind == "speaker_selected":
        extra = (
            f"attempt {event['attempt']}"
            if "attempt" in event
            else f"failures {event.get('failures', '')}"
        )
        candidates = event.get("candidates")
        return (
            "selector",
            kind,
            (
                f"{event.get('speaker')} "
                f"from [{', '.join(map(str, candidates if isinstance(candidates, list) else [candidates]))}] "
                f"by {event.get('method', '?')}, {extra}"
            ),
        )
    if kind == "message":
        return (
            str(event.get("speaker", "?")),
            kind,
            _short(str(event.get("text", "")), REPLY_PREVIEW),
        )
    if kind == "agent_created":
        return (
            str(event.get("agent", "?")),
            kind,
            _short(str(event.get("system_message", "")), REPLY_PREVIEW),
        )
    if "verdict" in kind or "critic" in kind:
        verdict = rr.normalise_verdict(event.get("verdict", event), str(event.get("expert", "")))
        if verdict is not None:
            return (
                verdict.expert,
                kind,
                f"{verdict.status} score={_score_text(verdict.score)}: {verdict.rationale}",
            )
    rest = {k: v for k, v in event.items() if k not in {"seq", "t", "event"}}
    return (
        str(event.get("agent", "")),
        kind,
        _short(", ".join(f"{k}={v}" for k, v in rest.items()), 300),
    )


def show_agent_transcript(
    console: Console, run: rr.RunData, conversation_id: str, colours: dict[str, str]
) -> None:
    events, notes = rr.read_transcript(run, conversation_id)
    print_notes(console, notes)
    if not events:
        return
    table = Table(title=f"agent transcript, {len(events)} events")
    for column in ("#", "t (s)", "who", "event", "detail"):
        table.add_column(column, overflow="fold")
    usage: dict[str, list[int]] = {}
    for event in events:
        who, what, detail = _event_line(event)
        table.add_row(
            str(event.get("seq", "")),
            str(event.get("t", "")),
            Text(who, style=colours.get(who, "")),
            what,
            detail,
        )
        if event.get("event") == "model_call":
            totals = usage.setdefault(str(event.get("role", "?")), [0, 0, 0])
            totals[0] += 1
            totals[1] += rr.whole_number(event.get("prompt_tokens"))
            totals[2] += rr.whole_number(event.get("completion_tokens"))
    console.print(table)
    summary = Table(title="token usage by role (from the transcript)")
    for column in ("role", "calls", "prompt tokens", "completion tokens"):
        summary.add_column(column, justify="right")
    for role, (calls, prompt, completion) in sorted(usage.items()):
        summary.add_row(role, str(calls), str(prompt), str(completion))
    console.print(summary)


def handle(args: argparse.Namespace) -> int:
    # markup off: names, turns and ids are data, and "[/x]" in a turn must print as it is
    console = Console(width=args.width, highlight=False, markup=False)
    run = rr.load_run(args.run_dir)
    print_notes(console, run.notes)
    if args.failed:
        list_failures(console, run.failures)
        return 0
    if args.id:
        record = run.find(args.id)
        if record is None:
            known = ", ".join(str(c.get("id")) for c in run.conversations[:10])
            raise UserError(
                f"ID: no conversation '{args.id}' in {args.run_dir} (known: {known or 'none'})"
            )
        show_conversation(console, run, record, args.agents)
        return 0
    records = run.conversations
    title = str(args.run_dir)
    if args.grep:
        records = [r for r in records if rr.matches(r, args.grep)]
        title += f" matching '{args.grep}'"
    list_conversations(console, records, args.page, args.page_size, title)
    return 0


def main(argv: list[str]) -> int:
    return handle(build_parser().parse_args(argv))
