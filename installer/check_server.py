"""Run the reference CRM server for installer/check_build.sh until stdin closes.

Prints the server's URL on the first line of stdout once it answers. The API key comes from
the ``TRAY_CLIENT_API_KEY`` variable (never argv, where other users could read it). One CRM
contact is seeded so the check's sync has something to pull as well as to push.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> int:
    """Serve until stdin reaches end of file; 2 when misused."""
    from tray_client.devserver.testing import RunningServer

    if len(sys.argv) != 3:
        print("usage: check_server.py DB_PATH USER  (key in TRAY_CLIENT_API_KEY)",
              file=sys.stderr)
        return 2
    api_key = os.environ.get("TRAY_CLIENT_API_KEY", "")
    if not api_key:
        print("check_server.py: TRAY_CLIENT_API_KEY is not set", file=sys.stderr)
        return 2
    with RunningServer(db_path=Path(sys.argv[1]), user=sys.argv[2], api_key=api_key) as server:
        server.admin.create("contacts", {"firstName": "Crm", "lastName": "Build-Check",
                                         "emails": [{"email": "build-check@example.org"}]})
        print(server.url, flush=True)
        sys.stdin.read()  # the check script closes our stdin when it is done
    return 0


if __name__ == "__main__":
    sys.exit(main())
