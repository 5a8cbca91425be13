"""``python -m tray_client.devserver``: the same as ``tray-client-devserver``."""

import sys

from .cli import main

sys.exit(main())
