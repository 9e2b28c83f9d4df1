"""llama-cpp-python's own OpenAI-compatible server on the bundled model, for tests that go through
the `openai` backend against a real server (test tooling only; the dev extras install
`llama-cpp-python[server]`). The simulated endpoint (tests/sim_endpoint.py) stays for faults and
scale: this server serves one request at a time.

    with running_llama_server() as base_url: ...   # http://127.0.0.1:<free port>/v1
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from orchestrator.models.local import bundled_model_path

HOST = "127.0.0.1"
MODEL_ALIAS = "smol"
API_KEY_ENV = "LLAMA_SERVER_KEY"  # the server checks no key unless started with --api_key


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_llama_server(*, n_ctx: int = 4096, start_timeout: float = 60.0) -> Iterator[str]:
    """Start `python -m llama_cpp.server` on a free port with the bundled model; yield its base
    URL once it answers; kill it at the end. Its log goes to a temporary file (shown on failure)."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()), "--host", HOST,
               "--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", MODEL_ALIAS]
    with tempfile.NamedTemporaryFile("w+", prefix="llama-server-", suffix=".log") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://{HOST}:{port}/v1"
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}:\n{_tail(log.name)}")
                try:
                    if httpx.get(base_url + "/models", timeout=2.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server did not answer in {start_timeout:.0f} s:\n{_tail(log.name)}")
                time.sleep(0.2)
            yield base_url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _tail(path: str, lines: int = 30) -> str:
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def llama_models_yaml(base_url: str, *, mode: str = "json_object", judge_max_tokens: int = 120,
                      embedded_experiences: bool = False) -> str:
    """Every role on the server through the `openai` backend (model_info as in
    scenarios/models/openai.yaml), with call settings for the 135M model kept small for speed.

    embedded_experiences: the experience generator runs on the embedded model instead (as in
    scenarios/models/local.yaml). Through the server's json_object grammar the 135M model writes an
    experience that passes the experience rules in about 1 attempt of 35 (2 of 77 in one run) (debris such as a
    situation of `{{`, or the shot's situation copied), so a test that needs written conversations
    in minutes, and is about the server path of the other roles, takes its experiences from there.
    """
    experience_backend = (
        "  embedded: {type: local, model_path: bundled, n_ctx: 8192}\n" if embedded_experiences else ""
    )
    experience_role = (
        "  experience_generator: {backend: embedded, temperature: 0.9, max_tokens: 1200, repeat_penalty: 1.1}\n"
        if embedded_experiences else "  experience_generator: {temperature: 0.9, max_tokens: 1200}\n"
    )
    return (
        "backends:\n  llama:\n    type: openai\n    model: smol\n"
        f"    base_url: {base_url}\n    api_key_env: {API_KEY_ENV}\n"
        "    model_info: {family: unknown, json_output: true, structured_output: true, function_calling: false,"
        " vision: false}\n"
        f"    structured_output: {mode}\n"
        # one request at a time: calls queue behind each other, so a call may wait minutes
        "    timeout_seconds: 600\n"
        "    retry: {attempts: 2, initial_delay: 0.1, max_delay: 1.0}\n"
        f"{experience_backend}"
        "default: {backend: llama, temperature: 0.8, max_tokens: 64}\n"
        "roles:\n"
        f"{experience_role}"
        "  persona: {temperature: 0.8, max_tokens: 40, top_p: 0.9}\n"
        "  selector: {temperature: 0.3, max_tokens: 24}\n"
        "  critic: {temperature: 0.0, max_tokens: 120}\n"
        f"  judge: {{temperature: 0.0, max_tokens: {judge_max_tokens}}}\n"
        "cache: {store: off}\n"
    )
