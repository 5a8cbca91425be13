#!/usr/bin/env bash
# Runs the whole test suite (the README's test command). GUI tests use the offscreen Qt
# platform; the end-to-end tray tests start their own Xvfb + trayer.
set -uo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen
python -m pytest -q -p no:cacheprovider "$@"
status=$?
# pytest's 5 means "no tests collected": that is a failure for us, not a pass.
exit $status
