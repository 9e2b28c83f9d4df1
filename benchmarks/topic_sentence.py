#!/usr/bin/env python3
"""Does decoding the topic as one sentence make more experiences usable? An A/B on the embedded
model, in one run: the same single experience attempts (same seeds, pinned names and shot as a
job of the default scenario has them) decoded under the experience schema as it ships (the
topic's one-sentence `pattern`, agents/schemas.py TOPIC_PATTERN) and under the same schema
without that pattern (a topic of any 120 characters, as before). Each attempt is judged by the
experience rules (`experience_findings`); reports per arm the usable share, the rules hit, the
topics cut off at the length limit, and the model seconds and completion tokens per attempt and
per usable experience. Arms alternate per seed, so machine noise falls on both.

    .venv/bin/python -m benchmarks.topic_sentence -n 12 [--seed 0] [--scenario multiparty]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, create_model

from agents.errors import GenerationError
from agents.experience_generator import experience_request
from agents.schemas import TOPIC_MAX_LENGTH, Experience, experience_schema
from orchestrator.api import _request
from orchestrator.job import ConversationJob, plan_job
from orchestrator.prepare import prepare_run
from orchestrator.stages.experience import FramedRequest, generate_experience
from orchestrator.store.transcript import Transcript

ARMS = ("run_on", "one_sentence")


def _schema(arm: str, num_participants: int, names: list[str]) -> type[BaseModel]:
    shipped = experience_schema(num_participants, names)
    if arm == "one_sentence":
        return shipped
    # the topic as it was before the pattern: any plain text up to the limit
    run_on: type[BaseModel] = create_model(f"RunOn{shipped.__name__}", __base__=shipped,
                                           topic=(str, Field(min_length=1, max_length=TOPIC_MAX_LENGTH)))
    return run_on


async def attempt(prepared: Any, job: ConversationJob, arm: str) -> dict[str, Any]:
    index = job.index
    shots = [s.experience for s in job.shots]
    template = prepared.prompts["experience_generator"]
    request = experience_request(template, num_participants=job.num_participants, shots=shots, names=job.names)
    framed = FramedRequest(schema=_schema(arm, job.num_participants, list(job.names)), request=request,
                           assemble=lambda content: Experience.model_validate(content.model_dump()))
    transcript = Transcript()
    try:
        experience = await generate_experience(
            prepared.models, template, shots=shots, num_participants=job.num_participants, transcript=transcript,
            seed=job.seed, max_attempts=1, names=list(job.names), framed=framed)
        rules: list[str] = []
        topic = experience.topic
    except GenerationError as exc:
        rejection = exc.attempts[0]
        rules, topic = [str(rule) for rule in rejection["rules"]], ""  # type: ignore[attr-defined]
        reason = str(rejection["reason"])
    calls = [e for e in transcript.events if e["event"] == "model_call"]
    if not rules:
        reason = ""
    elif calls:
        try:
            topic = json.loads(calls[-1]["reply"]).get("topic", "")
        except (ValueError, AttributeError):
            topic = ""
    return {"index": index, "arm": arm, "usable": not rules, "rules": rules, "topic": topic,
            "topic_cut_off": "topic is cut off" in reason,
            "seconds": round(sum(c.get("seconds", 0.0) for c in calls), 2),
            "completion_tokens": sum(c.get("completion_tokens", 0) for c in calls)}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    usable = sum(r["usable"] for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    tokens = sum(r["completion_tokens"] for r in rows)
    return {
        "attempts": len(rows), "usable": usable, "usable_share": round(usable / len(rows), 3),
        "topic_cut_off": sum(r["topic_cut_off"] for r in rows),
        "rules": dict(Counter(rule for r in rows for rule in r["rules"]).most_common()),
        "seconds_per_attempt": round(seconds / len(rows), 1),
        "completion_tokens_per_attempt": round(tokens / len(rows)),
        "seconds_per_usable": round(seconds / usable, 1) if usable else None,
        "mean_topic_chars": round(sum(len(r["topic"]) for r in rows) / len(rows)),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    request = _request(args.scenario, n=1, out=args.out, models=None, seed=args.seed, concurrency=1,
                       max_failures=None, executor="local", workers=None, ray_address=None)
    prepared = prepare_run(request)
    rows: list[dict[str, Any]] = []
    try:
        for index in range(args.n):
            job = plan_job(index, scenario=request.scenario, run_seed=args.seed, shots=prepared.hub.sample(),
                           names=prepared.names)
            for arm in (ARMS if index % 2 == 0 else ARMS[::-1]):
                row = await attempt(prepared, job, arm)
                rows.append(row)
                print(f"{index:3d} {arm:<12} {'usable' if row['usable'] else ','.join(row['rules']):<28} "
                      f"{row['seconds']:6.1f}s {row['topic'][:70]!r}", file=sys.stderr)
    finally:
        await prepared.models.close()
    return {"scenario": args.scenario, "seed": args.seed, "n": args.n,
            "arms": {arm: summarise([r for r in rows if r["arm"] == arm]) for arm in ARMS}, "attempts": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=12, help="seeds (attempts per arm, default 12)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", default="multiparty")
    parser.add_argument("--out", type=Path, default=Path("runs") / f"topic-sentence-{time.strftime('%Y%m%d-%H%M%S')}")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "topic_sentence.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report["arms"], indent=2))
    print(f"written to {args.out / 'topic_sentence.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
