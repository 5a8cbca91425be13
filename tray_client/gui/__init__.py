"""The desktop tray application (PySide6). The only place in the project that imports Qt.

    app.py              main() and TrayApp: wires the parts below to the Client facade
    tray.py             TrayIcon (icon swapped only on a state change, menu, tooltip), AppActions
    state.py, icons.py  TrayState, the outcome/error → state table, state → SVG table
    status_window.py    status window (left click; the main window where there is no tray)
    settings_dialog.py  Settings (tabs; ``add_tab`` for Field mapping), Check Connection
    sync_runner.py      one sync at a time on its own thread; observer → Qt signals
    scheduler.py        APScheduler pull/push jobs, pause, back-off; wake and network watchers
    alerts.py           which notifications a run produces (Show Alerts)
    workers.py          thread-pool workers: result / error / progress / finished
    single_instance.py  one app per store (QLocalServer); commands show/sync/settings/quit
    sidepanel/          the side panel (its own package)

Extension point: ``TrayApp.add_menu_action(text, callback)`` adds an entry to the tray menu
(between Pause and Settings…) and a button to the status window — for "Show/Hide Side
Panel" and "Sync Report…".
"""
