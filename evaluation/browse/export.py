"""`python run.py export RUN_DIR --format FORMAT --out PATH`: a run as a dataset.

Formats: `jsonl` (our records as written), `parquet` and `hf` (a Hugging Face dataset saved
with `save_to_disk`): one row per conversation with convenient columns plus the full record as
JSON, so nothing is lost; `openai` (`{"messages": [...]}`) and `sharegpt`
(`{"conversations": [{"from", "value"}]}`): one fine-tuning example per persona who speaks, from
that persona's point of view (its turns are the assistant's, everyone else's are the user's,
prefixed with the speaker's name). `--anonymise` renames speakers Guest1..N everywhere, as
ConvoGen's released data does; `--accepted-only` drops conversations a critic rejected.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path
from typing import Any

from agents.errors import UserError
from evaluation.browse.output_paths import check_export_target
from orchestrator.store import reader as rr
from orchestrator.store.jsonl import encode_line

FORMATS = ("jsonl", "parquet", "hf", "openai", "sharegpt")
# Branches holding no speaker names: anonymising them would only corrupt ids and settings.
NOT_NAMES = {"id", "scenario", "models", "timing", "usage", "provenance", "record_version", "index"}


def clean_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record as written in the run (reader bookkeeping like `_source` removed)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


# --- anonymisation --------------------------------------------------------------------------


def guest_names(record: dict[str, Any]) -> dict[str, str]:
    """Agent and display names -> Guest1..N, in participant order."""
    mapping: dict[str, str] = {}
    names = rr.display_names(record)
    order = list(dict.fromkeys([*rr.speakers(record), *names]))
    for number, agent in enumerate(order, start=1):
        mapping[agent] = f"Guest{number}"
        mapping.setdefault(names.get(agent, agent), f"Guest{number}")
    for person in rr.personas(record):
        name = str(person.get("name", ""))
        if name and name not in mapping:
            mapping[name] = f"Guest{len(set(mapping.values())) + 1}"
    return mapping


def anonymise(record: dict[str, Any]) -> dict[str, Any]:
    mapping = guest_names(record)
    if not mapping:
        return record
    # Longest names first so "Ana Maria" is replaced before "Ana"; whole words only.
    pattern = re.compile(
        r"(?<!\w)("
        + "|".join(re.escape(n) for n in sorted(mapping, key=len, reverse=True))
        + r")(?!\w)"
    )

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(lambda m: mapping[m.group(1)], value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        return value

    return {k: (v if k in NOT_NAMES else walk(v)) for k, v in record.items()}


# --- per-persona chat examples --------------------------------------------------------------


def persona_system_prompt(record: dict[str, Any], person: dict[str, Any]) -> str:
    exp = rr.experience(record)
    name = str(person.get("name", "?"))
    others = [str(p.get("name")) for p in rr.personas(record) if p is not person]
    memory = person.get("memory")
    memory = memory if isinstance(memory, dict) else {}
    qualities = person.get("qualities")
    lines = [
        f"You are {name}, {person.get('age', '?')} years old, talking with {', '.join(others)}.",
        f"Your qualities: {', '.join(map(str, qualities if isinstance(qualities, list) else []))}.",
        f"Your life: {person.get('lifestyle', '')}",
        f"How you speak: {person.get('speech_style', '')}",
        f"Recently: {memory.get('recent', '')}",
        f"Long ago: {memory.get('long_term', '')}",
    ]
    for relation in rr.relations(record):
        if name in (
            relation.get("person_a"),
            relation.get("person_b"),
        ):
            lines.append(
                f"{relation.get('person_a')} and {relation.get('person_b')}: "
                f"{relation.get('relation')}."
            )
    lines += [f"Situation: {exp.get('situation', '')}", f"Topic: {exp.get('topic', '')}"]
    return "\n".join(lines)


def persona_dialogue(record: dict[str, Any], display_name: str) -> list[tuple[str, str]]:
    """(role, content) pairs from one persona's view: 'assistant' for its own turns, 'user' for
    the others' (consecutive turns merged, names prefixed); trailing user turns dropped because
    a training example must end on the persona's reply."""
    names = rr.display_names(record)
    pairs: list[tuple[str, str]] = []
    for turn in rr.turns(record):
        shown = names.get(turn.speaker, turn.speaker)
        if shown == display_name:
            pairs.append(("assistant", turn.text))
        elif pairs and pairs[-1][0] == "user":
            pairs[-1] = ("user", pairs[-1][1] + f"\n{shown}: {turn.text}")
        else:
            pairs.append(("user", f"{shown}: {turn.text}"))
    while pairs and pairs[-1][0] == "user":
        pairs.pop()
    return pairs


def chat_examples(record: dict[str, Any], style: str) -> list[dict[str, Any]]:
    examples = []
    for person in rr.personas(record):
        name = str(person.get("name", ""))
        dialogue = persona_dialogue(record, name)
        if not any(role == "assistant" for role, _ in dialogue):
            continue  # a persona who never speaks teaches nothing
        system = persona_system_prompt(record, person)
        meta = {"conversation_id": record.get("id"), "persona": name}
        if style == "openai":
            messages = [{"role": "system", "content": system}]
            messages += [{"role": role, "content": text} for role, text in dialogue]
            examples.append({"messages": messages, "metadata": meta})
        else:
            turns = [{"from": "system", "value": system}]
            turns += [
                {"from": "gpt" if role == "assistant" else "human", "value": text}
                for role, text in dialogue
            ]
            examples.append(
                {"id": f"{record.get('id')}:{name}", "conversations": turns, "metadata": meta}
            )
    return examples


# --- tabular rows ---------------------------------------------------------------------------


def table_row(record: dict[str, Any]) -> dict[str, Any]:
    """One row: columns to filter on, plus the full record as JSON (lossless round trip)."""
    exp = rr.experience(record)
    names = rr.display_names(record)
    score = rr.score(record)
    return {
        "id": str(record.get("id", "")),
        "scenario": str(record.get("scenario", "")),
        "status": rr.status(record),
        "accepted": rr.is_accepted(record),
        "score": score,
        "speakers": [names.get(s, s) for s in rr.speakers(record)],
        "turns": [
            {"speaker": names.get(t.speaker, t.speaker), "text": t.text}
            for t in rr.turns(record)
        ],
        "topic": str(exp.get("topic", "")),
        "situation": str(exp.get("situation", "")),
        "record_json": json.dumps(record, ensure_ascii=False),
    }


def _write_jsonl(path: Path, items: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(encode_line(item))


def export(records: list[dict[str, Any]], fmt: str, out: Path) -> int:
    """Write `records` in `fmt` to `out`; return how many items (rows or examples) were written."""
    if fmt == "jsonl":
        _write_jsonl(out, records)
        return len(records)
    if fmt in ("openai", "sharegpt"):
        examples = [e for r in records for e in chat_examples(r, fmt)]
        _write_jsonl(out, examples)
        return len(examples)
    rows = [table_row(r) for r in records]
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), out)
        return len(rows)
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()  # keep the CLI's output to its one summary line

    Dataset.from_list(rows).save_to_disk(str(out))
    return len(rows)


HELP = "export a run: jsonl, parquet, hf, openai, sharegpt"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register `export` on a command line's subparsers."""
    parser = subparsers.add_parser("export", help=HELP, description="Export a run as a dataset.")
    parser.set_defaults(handler=handle)
    parser.add_argument("run_dir", type=Path, help="run directory (or a conversations .jsonl)")
    parser.add_argument("--format", required=True, choices=FORMATS, help="output format")
    parser.add_argument("--out", required=True, type=Path, help="output file (a directory for hf)")
    parser.add_argument(
        "--anonymise", "--anonymize", action="store_true", help="rename speakers Guest1..N"
    )
    parser.add_argument(
        "--accepted-only", action="store_true", help="leave out rejected conversations"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The `export` parser on its own (prog "run.py export")."""
    return add_parser(argparse.ArgumentParser(prog="run.py").add_subparsers())


def handle(args: argparse.Namespace) -> int:
    check_export_target(args.out, args.run_dir)
    run = rr.load_run(args.run_dir)
    for note in run.notes:
        print(f"note: {note}")
    if run.unreadable:  # exporting the rest would silently drop records from the dataset
        raise UserError(f"{run.unreadable[0]}" + (f" (and {len(run.unreadable) - 1} more)" if len(run.unreadable) > 1
                        else "") + "; export writes every record or none: repair or remove the line(s) first")
    records = run.conversations
    if args.accepted_only:
        records = [r for r in records if rr.is_accepted(r)]
    records = [clean_record(r) for r in records]
    if args.anonymise:
        records = [anonymise(r) for r in records]
    if not records:
        raise UserError(
            f"RUN_DIR: {args.run_dir} has no conversations to export"
            + (" after --accepted-only" if args.accepted_only else "")
        )
    out: Path = args.out
    if out.exists():
        if not args.overwrite:
            raise UserError(f"--out: {out} already exists (pass --overwrite to replace it)")
        if out.is_dir():
            shutil.rmtree(out)
        else:
            out.unlink()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        count = export(records, args.format, out)
    except OSError as exc:
        raise UserError(f"--out: cannot write {out}: {exc.strerror}") from None
    unit = "examples" if args.format in ("openai", "sharegpt") else "conversations"
    print(f"wrote {count} {unit} from {len(records)} conversations to {out} ({args.format})")
    return 0


def main(argv: list[str]) -> int:
    return handle(build_parser().parse_args(argv))
