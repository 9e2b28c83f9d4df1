#!/usr/bin/env python3
"""What the default sanity rules reject and what that costs, on the embedded model.

Runs a shipped scenario as a user would (its critics section as it is: the rule gate by default)
until N conversations are accepted, then reads the run directory and reports, per rule:
- experiences: generator attempts the rule rejected (`experience_rejected` events);
- replies: persona replies the rule rejected and sampled again (`reply_rejected`), and how many
  were kept anyway when the attempts ran out;
- conversations: candidates the rule's critic expert failed (rejected.jsonl);
and the acceptance rates, plus the extra cost: the tokens and model seconds spent on everything
that was thrown away (rejected experience attempts, rejected replies, whole rejected candidates and
the experiences they came from), and the CPU time of the checks themselves (re-run here on the
run's own texts and timed). A run without the checks would not have spent the thrown-away part,
so that is what the checks cost. An attempt that breaks several rules counts for each of them.

    .venv/bin/python -m benchmarks.sanity_gate -n 10 --seed 0
    .venv/bin/python -m benchmarks.sanity_gate --analyse runs/sanity-gate-...   # report an existing run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from agents.critic_rules import RULE_CHECKS, RuleLimits
from agents.reply_check import reply_findings
from agents.schemas import Experience, Turn, experience_findings
from agents.speaker_ids import speaker_ids
from agents.verdicts import CandidateView
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS, FAILURES, MANIFEST, REJECTED

GENERATION_ROLES = ("experience_generator", "persona", "selector")


def _cost() -> dict[str, float]:
    return {"calls": 0, "tokens": 0, "seconds": 0.0}


def _add(cost: dict[str, float], call: dict[str, Any]) -> None:
    cost["calls"] += 1
    cost["tokens"] += call.get("prompt_tokens", 0) + call.get("completion_tokens", 0)
    cost["seconds"] += call.get("seconds", 0.0)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _round(cost: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in cost.items()}


class Tally:
    """Counts and thrown-away cost, per stage and rule, over every transcript of a run."""

    def __init__(self) -> None:
        self.attempts = Counter[str]()  # stage -> attempts judged
        self.rejected = {stage: Counter[str]() for stage in ("experiences", "replies", "conversations")}
        self.resampled = 0  # replies rejected and sampled again
        self.kept_anyway = Counter[str]()  # reply rule -> replies kept when the attempts ran out
        self.rule_cost: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(_cost))
        self.wasted = {stage: _cost() for stage in ("experiences", "replies", "conversations")}
        self.total = _cost()

    def transcript(self, events: list[dict[str, Any]], winner_known: bool) -> None:
        """One job's events: its experience attempts, candidates, replies and the panel's decision."""
        decision = next((e for e in events if e["event"] == "panel_decision"), None)
        winner = decision["winner"] if decision else (0 if not winner_known else None)
        candidate: int | None = None
        experience_calls: list[dict[str, Any]] = []
        last_call: dict[str, dict[str, Any]] = {}  # agent -> its latest model call
        candidate_calls: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            kind = event["event"]
            if kind == "candidate_started":
                candidate = event["candidate"]
            elif kind == "model_call" and event["role"] in GENERATION_ROLES:
                _add(self.total, event)
                if event["role"] == "experience_generator":
                    experience_calls.append(event)
                else:
                    candidate_calls[candidate if candidate is not None else 0].append(event)
                last_call[event["agent"]] = event
            elif kind == "experience_rejected":
                self.attempts["experiences"] += 1
                call = experience_calls[-1] if experience_calls else {}
                _add(self.wasted["experiences"], call)
                for rule in event.get("rules") or ["unknown"]:
                    self.rejected["experiences"][rule] += 1
                    _add(self.rule_cost["experiences"][rule], call)
            elif kind == "experience_accepted":
                self.attempts["experiences"] += 1
            elif kind == "reply_rejected":
                rules = event.get("rules") or ["unknown"]
                if event["kept"]:
                    self.kept_anyway.update(rules)
                    continue
                self.resampled += 1
                call = last_call.get(event["agent"], {})
                if candidate in (None, winner):  # a rejected candidate's calls are counted whole below
                    _add(self.wasted["replies"], call)
                for rule in rules:
                    self.rejected["replies"][rule] += 1
                    _add(self.rule_cost["replies"][rule], call)
        self.attempts["replies"] += sum(1 for e in events if e["event"] == "model_call" and e["role"] == "persona")
        for k, calls in candidate_calls.items():
            if winner is None or k != winner:
                for call in calls:
                    _add(self.wasted["conversations"], call)
        if winner is None and any(e["event"] == "experience_accepted" for e in events):
            _add(self.wasted["conversations"], experience_calls[-1])  # its only experience led nowhere


def check_seconds(run: Path, candidates: list[dict[str, Any]], limits: RuleLimits) -> dict[str, float]:
    """CPU seconds of the checks themselves, re-run on this run's texts."""
    started = time.perf_counter()
    for record in candidates:
        experience_findings(Experience.model_validate(record["experience"]))
    experience_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for record in candidates:
        names = [p["name"] for p in record["experience"]["participants"]]
        labels = [*names, *speaker_ids(names).values()]
        texts = [t["text"] for t in record["turns"]]
        for i, turn in enumerate(record["turns"]):
            reply_findings(turn["text"], speaker_labels=labels, earlier=texts[:i], speaker=turn["speaker"], names=names)
    reply_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for record in candidates:
        view = CandidateView(experience=Experience.model_validate(record["experience"]),
                             turns=[Turn(**t) for t in record["turns"]])
        for check in RULE_CHECKS.values():
            check(view, limits)
    critic_seconds = time.perf_counter() - started
    per = max(len(candidates), 1)
    return {"experience_checks_ms_per_candidate": round(1000 * experience_seconds / per, 3),
            "reply_checks_ms_per_candidate": round(1000 * reply_seconds / per, 3),
            "rule_critics_ms_per_candidate": round(1000 * critic_seconds / per, 3)}


def analyse(run: Path) -> dict[str, Any]:
    manifest = json.loads((run / MANIFEST).read_text())
    accepted = read_jsonl(run / CONVERSATIONS).records if (run / CONVERSATIONS).exists() else []
    rejected = read_jsonl(run / REJECTED).records if (run / REJECTED).exists() else []
    failures = read_jsonl(run / FAILURES).records if (run / FAILURES).exists() else []
    gated = manifest.get("generator_critic") is not None
    tally = Tally()
    for path in sorted((run / "transcripts").glob("*.jsonl")):
        tally.transcript(read_jsonl(path).records, winner_known=gated)
    for record in rejected:
        tally.rejected["conversations"].update(record["review"]["rejected_by"] or ["lost the vote"])
    candidates = len(accepted) + len(rejected)
    experience_rejections = sum(1 for path in sorted((run / "transcripts").glob("*.jsonl"))
                                for e in read_jsonl(path).records if e["event"] == "experience_rejected")
    experience_failures = [f for f in failures if f["stage"] == "experience"]
    wasted = _cost()
    for cost in tally.wasted.values():
        for key in wasted:
            wasted[key] += cost[key]
    limits = RuleLimits.model_validate((manifest["scenario"].get("critics") or {}).get("limits") or {})
    n = max(len(accepted), 1)
    per_rule: dict[str, Any] = {
        stage: {rule: {"rejected": count, **_round(tally.rule_cost[stage][rule])}
                for rule, count in sorted(tally.rejected[stage].items())}
        for stage in ("experiences", "replies")
    }
    per_rule["conversations"] = dict(sorted(tally.rejected["conversations"].items()))
    return {
        "run_dir": str(run),
        "scenario": manifest["scenario"]["name"],
        "seed": manifest["seed"],
        "requested": manifest["num_conversations_requested"],
        "accepted": len(accepted),
        "stop_reason": (manifest.get("generator_critic") or {}).get("stop_reason", ""),
        "wall_seconds": manifest["seconds"],
        "experiences": {"attempts": tally.attempts["experiences"], "rejected": experience_rejections,
                        "jobs_without_usable_experience": len(experience_failures)},
        "replies": {"persona_calls": tally.attempts["replies"], "rejected_and_resampled": tally.resampled,
                    "kept_after_last_attempt_by_rule": dict(sorted(tally.kept_anyway.items()))},
        "conversations": {"candidates": candidates, "accepted": len(accepted), "rejected": len(rejected)},
        "rejections_by_rule": per_rule,
        "acceptance": {
            "experience_attempts": _rate(tally.attempts["experiences"] - experience_rejections,
                                         tally.attempts["experiences"]),
            "replies_first_try": _rate(tally.attempts["replies"] - tally.resampled, tally.attempts["replies"]),
            "conversations": _rate(len(accepted), candidates),
            "conversations_incl_experience_failures": _rate(len(accepted), candidates + len(experience_failures)),
        },
        "cost": {
            "generation_total": _round(tally.total),
            "thrown_away": {stage: _round(cost) for stage, cost in tally.wasted.items()},
            "thrown_away_total": _round(wasted),
            "extra_share_of_tokens": round(wasted["tokens"] / max(tally.total["tokens"], 1), 3),
            "extra_share_of_model_seconds": round(wasted["seconds"] / max(tally.total["seconds"], 1e-9), 3),
            "extra_tokens_per_accepted": round(wasted["tokens"] / n),
            "extra_model_seconds_per_accepted": round(wasted["seconds"] / n, 1),
            "tokens_per_accepted": round(tally.total["tokens"] / n),
            "model_seconds_per_accepted": round(tally.total["seconds"] / n, 1),
            "checks_cpu": check_seconds(run, [*accepted, *rejected], limits),
        },
    }


def generate(args: argparse.Namespace) -> Path:
    from orchestrator.config import load_models, load_scenario
    from orchestrator.driver import execute_run
    from orchestrator.prepare import RunRequest, prepare_run

    scenario, scenario_path = load_scenario(args.scenario)
    models, models_path = load_models(None)
    out = args.out or Path("runs") / f"sanity-gate-{scenario.name}-{datetime.now():%Y%m%d-%H%M%S}"
    request = RunRequest(scenario=scenario, scenario_path=scenario_path, models=models, models_path=models_path,
                         num_conversations=args.num_conversations, out_dir=out, seed=args.seed,
                         command_line=tuple(sys.argv))

    def progress(p: Any) -> None:
        print(f"  written {p.done}/{p.total} · rejected {p.rejected} · failed {p.failed} · {p.tokens:,} tokens",
              file=sys.stderr, flush=True)

    asyncio.run(execute_run(prepare_run(request), progress))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="multiparty")
    parser.add_argument("-n", "--num-conversations", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="run directory (default runs/sanity-gate-<scenario>-<time>)")
    parser.add_argument("--analyse", type=Path, metavar="RUN_DIR", help="report an existing run, generate nothing")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/sanity_gate.json"))
    args = parser.parse_args()
    run = args.analyse or generate(args)
    result = {"command": " ".join(sys.argv), **analyse(run)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
