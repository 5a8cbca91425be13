#!/usr/bin/env bash
# Remove a per-user installation made by installer/install_user.sh.
#
#   installer/uninstall_user.sh [--keep-autostart]
#
# Removes the program folder ($DATA_HOME/tray-client/app), then every file and folder listed
# in its install-manifest.txt (launcher, desktop entry, metadata, icon, and the folders the
# install created, when empty), and the login autostart entry when it starts this program.
# Settings, the local store and logs are kept: delete them by hand if you want them gone
# (the paths are printed). Same variables as install_user.sh, plus XDG_CONFIG_HOME.
set -euo pipefail

PREFIX="${PREFIX:-$HOME/.local}"
BIN_DIR="${BIN_DIR:-$PREFIX/bin}"
DATA_HOME="${XDG_DATA_HOME:-$PREFIX/share}"
CONFIG_HOME="${XDG_CONFIG_HOME:-$HOME/.config}"
APP_ROOT="$DATA_HOME/tray-client"
APP_DIR="$APP_ROOT/app"
MARKER=".tray-client-install"
AUTOSTART="$CONFIG_HOME/autostart/tray-client.desktop"

KEEP_AUTOSTART=0
while [ $# -gt 0 ]; do
    case "$1" in
        --keep-autostart) KEEP_AUTOSTART=1; shift;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
        *) echo "uninstall_user.sh: unknown argument $1" >&2; exit 2;;
    esac
done

if [ ! -e "$APP_DIR" ]; then
    echo "CRM Tray Client is not installed in $APP_DIR"
    exit 0
fi
if [ ! -e "$APP_DIR/$MARKER" ]; then
    # Never rm -rf a folder this installer did not make.
    echo "uninstall_user.sh: $APP_DIR was not made by install_user.sh; not touching it" >&2
    exit 1
fi

files=()
dirs=()
if [ -f "$APP_DIR/install-manifest.txt" ]; then
    while IFS= read -r entry; do
        case "$entry" in
            "file "*) files+=("${entry#file }");;
            "dir "*) dirs+=("${entry#dir }");;
        esac
    done <"$APP_DIR/install-manifest.txt"
fi

# The autostart entry (written by the app's Start at login) would start a missing program.
if [ "$KEEP_AUTOSTART" -eq 0 ] && [ -f "$AUTOSTART" ] \
        && grep -qF "$APP_DIR" "$AUTOSTART"; then
    rm -f "$AUTOSTART"
    echo "Removed the login autostart entry $AUTOSTART"
fi

rm -rf "$APP_DIR"
for file in "${files[@]}"; do
    rm -f "$file"
done
# Folders the install created, deepest first, and only when nothing else lives in them.
for (( i=${#dirs[@]}-1; i>=0; i-- )); do
    rmdir "${dirs[$i]}" 2>/dev/null || true
done

echo "Uninstalled CRM Tray Client from $APP_DIR."
if [ -d "$APP_ROOT" ]; then
    echo "Your local data was kept in $APP_ROOT; settings and logs stay in their folders"
    echo "(see 'tray-client status' before uninstalling, or docs/installing.md)."
fi
