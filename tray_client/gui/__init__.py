"""The desktop tray application (PySide6). The only place in the project that imports Qt.

    app.py              main() and TrayApp: wires the parts below to the Client facade
    facade.py           ClientFacade: the members of Client the windows use (a Protocol)
    tray.py             TrayIcon (icon swapped only on a state change, menu, tooltip), AppActions
    state.py, icons.py  TrayState, the outcome/error → state table, state → SVG table
    popover.py          status popover (left click; the main window where there is no tray)
    plain_text.py       CRM/server/mail text shown as written (never as rich text)
    settings_dialog.py  Settings (tabs; ``add_tab`` for Field mapping), Check Connection
    sync_runner.py      one sync at a time on its own thread; observer → Qt signals
    scheduler.py        APScheduler pull/push jobs, pause, back-off; wake and network watchers
    alerts.py           which notifications a run produces (Show Alerts)
    workers.py          thread-pool workers: result / error / progress / finished
    single_instance.py  one app per store (QLocalServer); commands show/sync/settings/quit
    sidepanel/          the side panel (its own package)

Extension point: ``TrayApp.add_menu_action(text, callback)`` adds an entry to the tray menu
(between Pause and Settings…) and to the popover's ⋯ menu — for "Show/Hide Side
Panel" and "Sync Report…".
"""
