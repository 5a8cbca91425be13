"""A sync in its own process, for the crash test: ``python crash_worker.py URL DB [N [WHEN]]``.

Prints ``ready`` once imported and connected, then syncs. With ``N`` it SIGKILLs itself
right after the N-th CRM write was answered (before the engine records it locally), the
window in which a create's answer is lost; with ``WHEN`` = ``before``, right before the N-th
CRM write is sent (after the engine recorded its intent). The API key comes from the
environment, never argv; so do client-side sync directions (``CRASH_DIRECTIONS``, JSON
``{"events": "OutlookToOroCRM"}``), which the old Outlook section cannot carry; and where
to die in the pass that writes the links a pull left (``CRASH_LINK_PASS``, JSON ``{"chunk":
items a transaction, "kill_at": the transaction to die at}``).
"""

from __future__ import annotations

import json
import os
import signal
import sys


def main() -> None:
    url, db = sys.argv[1], sys.argv[2]
    die_after = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    before = len(sys.argv) > 4 and sys.argv[4] == "before"

    from tray_client.crm import CrmClient
    from tray_client.settings import Settings
    from tray_client.store import LocalStore
    from tray_client.sync import SyncEngine

    store = LocalStore(db)
    crm = CrmClient(url, os.environ["CRASH_USER"], os.environ["CRASH_KEY"])
    if die_after:
        writes = {"n": 0}
        for name in ("create", "update"):
            real = getattr(crm, name)

            def wrapped(*args, _real=real, **kwargs):
                writes["n"] += 1
                if before and writes["n"] >= die_after:
                    os.kill(os.getpid(), signal.SIGKILL)
                result = _real(*args, **kwargs)
                if writes["n"] >= die_after:
                    os.kill(os.getpid(), signal.SIGKILL)
                return result

            setattr(crm, name, wrapped)
    link_pass = json.loads(os.environ.get("CRASH_LINK_PASS") or "{}")
    if link_pass:
        from tray_client.sync import apply

        apply.WRITE_LINKS_CHUNK = link_pass["chunk"]
        calls = {"n": 0}
        real_write = store.write_links

        def write_links(rows, _real=real_write):
            calls["n"] += 1
            if calls["n"] >= link_pass["kill_at"]:
                os.kill(os.getpid(), signal.SIGKILL)
            return _real(rows)

        store.write_links = write_links
    print("ready", flush=True)
    settings = Settings()
    for entity, direction in json.loads(os.environ.get("CRASH_DIRECTIONS") or "{}").items():
        settings.rule(entity).direction = direction
    SyncEngine(store, crm, settings).run(force_delete=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
