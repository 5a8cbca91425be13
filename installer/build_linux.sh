#!/usr/bin/env bash
# Build the one-folder PyInstaller distribution of CRM Tray Client for Linux.
#
#   installer/build_linux.sh            -> dist/tray-client/tray-client
#
# Variables: PYTHON (the interpreter whose site-packages hold the app, PySide6 and
# PyInstaller: `pip install -e '.[installer]'`; default: python3), DIST_DIR (default
# dist), WORK_DIR (PyInstaller's scratch folder, default build/pyinstaller).
# Prints the folder's size and the build time; exits non-zero if anything is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
DIST_DIR="${DIST_DIR:-$ROOT/dist}"
WORK_DIR="${WORK_DIR:-$ROOT/build/pyinstaller}"

cd "$ROOT"
if ! "$PYTHON" -c "import PyInstaller, PySide6, tray_client.cli.main" 2>/dev/null; then
    echo "build_linux.sh: $PYTHON lacks PyInstaller, PySide6 or tray_client;" \
         "run: $PYTHON -m pip install -e '.[installer]'" >&2
    exit 2
fi

started=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST_DIR" --workpath "$WORK_DIR" installer/tray-client.spec
elapsed=$(( $(date +%s) - started ))

APP_DIR="$DIST_DIR/tray-client"
# The frozen app must carry what it needs at run time; fail the build, not the user.
missing=0
for required in \
    "$APP_DIR/tray-client" \
    "$APP_DIR/_internal/tray_client/resources/icons/idle.svg" \
    "$APP_DIR/_internal/tray_client/resources/linux/tray-client.desktop" \
    "$APP_DIR/_internal/tray_client/resources/linux/tray-client.svg"; do
    if [ ! -e "$required" ]; then
        echo "build_linux.sh: missing from the build: $required" >&2
        missing=1
    fi
done
for plugin in libqxcb.so libqoffscreen.so; do
    if ! find "$APP_DIR/_internal" -path "*platforms/$plugin" | grep -q .; then
        echo "build_linux.sh: Qt platform plugin $plugin missing from the build" >&2
        missing=1
    fi
done
if ! find "$APP_DIR/_internal" -path "*iconengines/libqsvgicon.so" | grep -q .; then
    echo "build_linux.sh: Qt SVG icon engine missing (tray icons would be blank)" >&2
    missing=1
fi
[ "$missing" -eq 0 ] || exit 1

echo "Built $APP_DIR ($(du -sh "$APP_DIR" | cut -f1)) in ${elapsed}s"
