"""A run that ends short of its target says so and exits non-zero; --resume --retry-failed then
runs the failed indices again (the endpoint down, then back, on the simulated endpoint)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

import run
from orchestrator.store.jsonl import read_jsonl
from orchestrator.store.layout import CONVERSATIONS, MANIFEST, RETRIED_FAILURES
from tests.helpers import FIXTURES, PREFLIGHT_REQUESTS
from tests.sim_endpoint import models_yaml, running_endpoint

TINY = FIXTURES / "foundation" / "tiny.yaml"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_short_run_exits_1_and_retry_failed_completes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SIM_API_KEY", "test-key")
    port, out, models = _free_port(), tmp_path / "run", tmp_path / "models.yaml"
    common = ("--port", str(port), "--latency", "0.01", "--max-seconds", "120")
    # the endpoint answers the run's preflight, then is down
    with running_endpoint(*common, "--fault-rate", "1", "--faults", "server_error",
                          "--fault-free-requests", str(PREFLIGHT_REQUESTS)) as base_url:
        models.write_text(models_yaml(base_url, timeout=2, extra="cache: {store: off}\n",
                                      extra_backend="    retry: {attempts: 1, initial_delay: 0}\n"))
        code = run.main(["--scenario", str(TINY), "-n", "3", "--max-failures", "2", "--models", str(models),
                         "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "the run ended short of its target: 0 of 3 conversation(s) written, 3 missing" in err
    assert f"--resume {out} --retry-failed" in err
    assert json.loads((out / MANIFEST).read_text())["counts"]["missing"] == 3
    with running_endpoint(*common):  # back up, on the same address the run's manifest names
        assert run.main(["--resume", str(out)]) == 1  # the failure budget is spent: nothing is retried
        assert "3 missing" in capsys.readouterr().err
        assert run.main(["--resume", str(out), "--retry-failed"]) == 0
    records = read_jsonl(out / CONVERSATIONS).records
    assert sorted(r["index"] for r in records) == [0, 1, 2]
    assert sorted(r["index"] for r in read_jsonl(out / RETRIED_FAILURES).records) == [0, 1]
    assert json.loads((out / MANIFEST).read_text())["counts"]["missing"] == 0


def test_retry_failed_needs_resume(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--scenario", str(TINY), "--retry-failed"]) == 2
    assert "--retry-failed: only with --resume" in capsys.readouterr().err
