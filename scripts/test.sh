#!/usr/bin/env bash
# Runs the whole test suite (the README's test command). GUI tests use the offscreen Qt
# platform; the end-to-end tray tests start their own Xvfb + trayer.
set -uo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen
# Lint first (rules in pyproject.toml: E,F,I,B,SIM,UP,RUF at 100 columns): a finding fails
# the run before any test starts.
python -m ruff check tray_client tests benchmarks installer setup.py || exit 1
# Types: mypy --strict on the core (tray_client minus gui/ and devserver/; [tool.mypy] in
# pyproject.toml).
python -m mypy || exit 1
python -m pytest -q -p no:cacheprovider "$@"
status=$?
# pytest's 5 means "no tests collected": that is a failure for us, not a pass.
exit $status
