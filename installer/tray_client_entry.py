"""PyInstaller's entry script: the frozen ``tray-client`` is ``tray_client.cli.main:main``.

PyInstaller needs a script file, not a console-script entry point; this is the smallest one.
"""

import multiprocessing
import sys

from tray_client.cli.main import main

if __name__ == "__main__":
    if sys.argv[1:2] == ["--page-worker"]:
        # A large pull's page decoder (tray_client.sync.pages): this program started again.
        from tray_client.sync.pages import serve_stdio

        serve_stdio()
        sys.exit(0)
    # The tray app syncs in a child process (multiprocessing, spawn): in a frozen build that
    # child is this program started again, and this call runs the child's part instead.
    multiprocessing.freeze_support()
    sys.exit(main())
