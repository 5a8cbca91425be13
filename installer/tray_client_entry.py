"""PyInstaller's entry script: the frozen ``tray-client`` is ``tray_client.cli.main:main``.

PyInstaller needs a script file, not a console-script entry point; this is the smallest one.
"""

import sys

from tray_client.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
