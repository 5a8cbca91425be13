#!/usr/bin/env bash
# Install CRM Tray Client for the current user, without root.
#
#   installer/install_user.sh                   a virtualenv built from this source tree
#   installer/install_user.sh --build DIR       a PyInstaller folder (dist/tray-client)
#
# Puts the program in $DATA_HOME/tray-client/app (a venv, or the PyInstaller folder), a
# launcher in $BIN_DIR/tray-client, and the desktop entry, AppStream metadata and icon under
# $DATA_HOME, so the app shows in the desktop's menu. installer/uninstall_user.sh removes
# exactly what this wrote (listed in $DATA_HOME/tray-client/app/install-manifest.txt);
# your settings, local data and logs are never touched by either.
#
# Variables: PREFIX (default ~/.local), BIN_DIR (default $PREFIX/bin), XDG_DATA_HOME (default
# $PREFIX/share), PYTHON (venv mode, default python3), PIP_ARGS (extra `pip install` args in
# venv mode, e.g. --no-index --find-links DIR for an offline install).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${PREFIX:-$HOME/.local}"
BIN_DIR="${BIN_DIR:-$PREFIX/bin}"
DATA_HOME="${XDG_DATA_HOME:-$PREFIX/share}"
PYTHON="${PYTHON:-python3}"
APP_ROOT="$DATA_HOME/tray-client"
APP_DIR="$APP_ROOT/app"
MARKER=".tray-client-install"
LAUNCHER="$BIN_DIR/tray-client"
DESKTOP_FILE="$DATA_HOME/applications/tray-client.desktop"
METAINFO_FILE="$DATA_HOME/metainfo/io.github.trayclient.TrayClient.metainfo.xml"
ICON_FILE="$DATA_HOME/icons/hicolor/scalable/apps/tray-client.svg"

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

BUILD=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build) [ $# -ge 2 ] || usage 2; BUILD="$2"; shift 2;;
        -h|--help) usage 0;;
        *) echo "install_user.sh: unknown argument $1" >&2; usage 2;;
    esac
done

for path in "$PREFIX" "$BIN_DIR" "$DATA_HOME"; do
    case "$path" in /*) ;; *) echo "install_user.sh: $path is not an absolute path" >&2; exit 2;;
    esac
done
if [ -n "$BUILD" ] && [ ! -x "$BUILD/tray-client" ]; then
    echo "install_user.sh: $BUILD/tray-client is not an executable (build it with" \
         "installer/build_linux.sh)" >&2
    exit 2
fi
if [ -e "$APP_DIR" ] && [ ! -e "$APP_DIR/$MARKER" ]; then
    echo "install_user.sh: $APP_DIR exists but was not made by this installer; not touching it" >&2
    exit 1
fi
if [ -e "$APP_DIR/$MARKER" ]; then
    echo "Replacing the existing installation in $APP_DIR"
    # Same paths as this run; the autostart entry stays valid, the program path being the same.
    PREFIX="$PREFIX" BIN_DIR="$BIN_DIR" XDG_DATA_HOME="$DATA_HOME" \
        "$ROOT/installer/uninstall_user.sh" --keep-autostart >/dev/null
fi

# The manifest lists every file and every folder this run created outside $APP_DIR, so the
# uninstaller removes those and nothing else. Folders come first, in creation order.
MANIFEST_TMP="$(mktemp)"
MANIFEST="$MANIFEST_TMP"  # moves into the program folder once that exists
trap 'rm -f "$MANIFEST_TMP"' EXIT
make_dir() {
    # mkdir -p, recording each folder that did not exist before.
    local dir="$1" missing=()
    while [ ! -d "$dir" ]; do missing=("$dir" "${missing[@]}"); dir="$(dirname "$dir")"; done
    for dir in "${missing[@]}"; do mkdir "$dir"; echo "dir $dir" >>"$MANIFEST"; done
}
install_file() {  # install_file SOURCE TARGET MODE
    make_dir "$(dirname "$2")"
    install -m "$3" "$1" "$2"
    echo "file $2" >>"$MANIFEST"
}

make_dir "$APP_ROOT"
# Build the program folder aside and move it in place at the end, so a failed install never
# leaves a half-made one. A venv must be made where it will live (its scripts hold their own
# path), so venv mode builds in place and removes the folder on failure instead.
if [ -n "$BUILD" ]; then
    STAGE="$APP_ROOT/.app-new"
    rm -rf "$STAGE"
    cp -a "$BUILD" "$STAGE"
    touch "$STAGE/$MARKER"
    mv "$STAGE" "$APP_DIR"
    PROGRAM="$APP_DIR/tray-client"
else
    trap 'rm -f "$MANIFEST_TMP"; [ -e "$APP_DIR/$MARKER" ] || rm -rf "$APP_DIR"' EXIT
    "$PYTHON" -m venv "$APP_DIR"
    # shellcheck disable=SC2086  # PIP_ARGS is a list of words on purpose
    "$APP_DIR/bin/python" -m pip install --quiet ${PIP_ARGS:-} "$ROOT"
    touch "$APP_DIR/$MARKER"
    PROGRAM="$APP_DIR/bin/tray-client"
fi
cp "$MANIFEST_TMP" "$APP_DIR/install-manifest.txt"
MANIFEST="$APP_DIR/install-manifest.txt"
"$PROGRAM" --version >/dev/null || { echo "install_user.sh: $PROGRAM does not start" >&2; exit 1; }

# The launcher: a tiny script, so the program folder can move without breaking links.
make_dir "$BIN_DIR"
LAUNCHER_TMP="$(mktemp)"
printf '#!/bin/sh\n# CRM Tray Client launcher, written by install_user.sh\nexec "%s" "$@"\n' \
    "$PROGRAM" >"$LAUNCHER_TMP"
install_file "$LAUNCHER_TMP" "$LAUNCHER" 0755
rm -f "$LAUNCHER_TMP"

# The desktop entry runs the launcher by absolute path: ~/.local/bin is often not on the
# desktop session's PATH. Exec quoting per the Desktop Entry spec (quote, escape " ` $ \,
# then escape backslashes again as a string value; % doubles).
quoted="${LAUNCHER//\\/\\\\}"; quoted="${quoted//\"/\\\"}"; quoted="${quoted//\`/\\\`}"
quoted="${quoted//\$/\\\$}"; quoted="\"${quoted}\""; quoted="${quoted//\\/\\\\}"
quoted="${quoted//%/%%}"
DESKTOP_TMP="$(mktemp)"
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
        Exec=*) printf 'Exec=%s\n' "$quoted";;
        *) printf '%s\n' "$line";;
    esac
done <"$ROOT/resources/linux/tray-client.desktop" >"$DESKTOP_TMP"
install_file "$DESKTOP_TMP" "$DESKTOP_FILE" 0644
rm -f "$DESKTOP_TMP"
install_file "$ROOT/resources/linux/io.github.trayclient.TrayClient.metainfo.xml" \
    "$METAINFO_FILE" 0644
install_file "$ROOT/resources/linux/tray-client.svg" "$ICON_FILE" 0644

echo "Installed CRM Tray Client:"
echo "  program   $APP_DIR"
echo "  launcher  $LAUNCHER"
echo "  menu      $DESKTOP_FILE"
case ":$PATH:" in *":$BIN_DIR:"*) ;; *)
    echo "Note: $BIN_DIR is not on your PATH; add it to run 'tray-client' from a terminal.";;
esac
