#!/usr/bin/env bash
# Check a PyInstaller build: it starts, answers --version, and runs a headless two-way sync
# against the reference CRM server on loopback.
#
#   installer/check_build.sh [APP]      APP: the built executable
#                                       (default dist/tray-client/tray-client)
#
# PYTHON (default python3) must be able to import tray_client: it runs the reference server
# (installer/check_server.py); the app under test is only the frozen executable.
# Exit status 0 when every step passed; the failing step is printed otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP="${1:-$ROOT/dist/tray-client/tray-client}"
PYTHON="${PYTHON:-python3}"
USER_NAME="build-check"

fail() { echo "check_build.sh: FAILED: $*" >&2; exit 1; }

[ -x "$APP" ] || fail "no executable at $APP (run installer/build_linux.sh first)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tray-client-check.XXXXXX")"
SERVER_PID=""
cleanup() {
    # Closing the server's stdin stops it; kill only if it does not go.
    exec 3>&- 2>/dev/null || true
    if [ -n "$SERVER_PID" ]; then
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Keep the app away from the user's real keyring, config and data.
export TRAY_CLIENT_API_KEY
TRAY_CLIENT_API_KEY="$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')"
unset TRAY_CLIENT_HOME
export QT_QPA_PLATFORM=offscreen
HOME_DIR="$WORK/home"
app() { "$APP" --home "$HOME_DIR" "$@"; }

echo "1/4 version"
version="$("$APP" --version)" || fail "--version exited non-zero"
case "$version" in tray-client\ *) ;; *) fail "--version printed '$version'";; esac
echo "    $version"

echo "2/4 reference server"
mkfifo "$WORK/server-in"
"$PYTHON" "$ROOT/installer/check_server.py" "$WORK/crm.db" "$USER_NAME" \
    <"$WORK/server-in" >"$WORK/server-out" 2>"$WORK/server-err" &
SERVER_PID=$!
exec 3>"$WORK/server-in"
URL=""
for _ in $(seq 150); do
    URL="$(head -n1 "$WORK/server-out" 2>/dev/null || true)"
    [ -n "$URL" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server-err" >&2; fail "server died"; }
    sleep 0.1
done
[ -n "$URL" ] || fail "server did not start in 15 s"
echo "    $URL"

echo "3/4 configure and add a local contact"
app configure --url "$URL" --user "$USER_NAME" >/dev/null || fail "configure"
app local add contacts --set first_name=Local --set last_name=Build-Check >/dev/null \
    || fail "local add"

echo "4/4 sync --json"
app sync --json >"$WORK/sync.json" || { cat "$WORK/sync.json" >&2; fail "sync exited non-zero"; }
"$PYTHON" - "$WORK/sync.json" <<'PY' || fail "sync result not as expected"
import json, sys
result = json.load(open(sys.argv[1], encoding="utf-8"))
contacts = result["counts"]["contacts"]
problems = []
if result["outcome"] != "ok":
    problems.append(f"outcome {result['outcome']!r}: {result.get('message')}")
if contacts["local"]["created"] != 1:
    problems.append(f"pulled {contacts['local']['created']} contacts, expected 1")
if contacts["crm"]["created"] != 1:
    problems.append(f"pushed {contacts['crm']['created']} contacts, expected 1")
for problem in problems:
    print("   ", problem, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
# The key was handed over in the environment only: it must not have been written anywhere.
if grep -rqF "$TRAY_CLIENT_API_KEY" "$HOME_DIR"; then
    fail "the API key was written under $HOME_DIR"
fi
echo "OK: $APP starts, answers --version and syncs both ways"
