"""The run reader's view of critic verdicts: the panel's own Verdict, whatever shape a record used."""

from __future__ import annotations

from agents.verdicts import Verdict
from orchestrator.store import reader as rr


def test_recorded_verdicts_are_read_as_they_were_written() -> None:
    written = [
        Verdict(expert="repetition", role="gate", method="rule", status="fail", rationale="turn 3 repeats turn 1",
                attempts=1),
        Verdict(expert="coherence", role="quality", method="llm", status="pass", score=4, rationale="fine",
                attempts=2, errors=["attempt 1: malformed verdict"]),
        Verdict(expert="toxicity", role="gate", method="llm", status="skipped", rationale="a gate failed"),
    ]
    record = {"review": {"decision": "rejected", "verdicts": [v.model_dump() for v in written]}}
    assert rr.verdicts(record) == written
    events = [{"seq": 7, "t": 1.5, "event": "critic_verdict", "candidate": 0, **v.model_dump()} for v in written]
    assert rr.transcript_verdicts(events) == written


def test_older_verdict_shapes_are_mapped_onto_the_panel_verdict() -> None:
    record = {"review": {"verdicts": {
        "repetition": {"kind": "gate", "passed": False, "reason": "looping"},
        "coherence": {"verdict": "pass", "score": 3.0},
        "faithfulness": {"rationale": "no answer"},
        "naturalness": {"score": float("nan")},
    }}}
    found = {v.expert: v for v in rr.verdicts(record)}
    assert found["repetition"] == Verdict(expert="repetition", role="gate", method="rule", status="fail",
                                          rationale="looping")
    assert found["coherence"] == Verdict(expert="coherence", role="quality", method="llm", status="pass", score=3)
    assert found["faithfulness"].status == "abstain" and found["faithfulness"].role == "gate"
    assert found["naturalness"].score is None
