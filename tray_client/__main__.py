"""``python -m tray_client`` is ``tray-client``."""

import sys

from .cli.main import main

sys.exit(main())
