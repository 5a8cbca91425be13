"""Where the client keeps its files.

By default config, data and logs follow the platform's conventions (platformdirs). With
``--home DIR`` or the ``TRAY_CLIENT_HOME`` variable, everything goes under one folder instead:
``DIR/config``, ``DIR/data``, ``DIR/logs``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "tray-client"
HOME_VARIABLE = "TRAY_CLIENT_HOME"


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    log_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def store_file(self) -> Path:
        return self.data_dir / "store.db"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "sync.lock"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "tray-client.log"

    def ensure(self) -> AppPaths:
        """Create the folders (owner-only) and return self."""
        for folder in (self.config_dir, self.data_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def resolve_paths(home: str | os.PathLike[str] | None = None) -> AppPaths:
    """Return the paths for ``home`` (argument, else ``TRAY_CLIENT_HOME``, else platformdirs)."""
    chosen = home if home is not None else os.environ.get(HOME_VARIABLE) or None
    if chosen is not None:
        root = Path(chosen).expanduser().resolve()
        return AppPaths(root / "config", root / "data", root / "logs")
    return AppPaths(
        Path(platformdirs.user_config_dir(APP_NAME)),
        Path(platformdirs.user_data_dir(APP_NAME)),
        Path(platformdirs.user_log_dir(APP_NAME)),
    )
