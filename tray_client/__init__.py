"""CRM Tray Client: keeps CRM contacts, tasks and calendar events in step with a local store.

The core (everything outside ``tray_client.gui``) never imports Qt. The GUI and the CLI are
two thin front ends over one facade, :class:`tray_client.client.Client`.
"""

__version__ = "0.1.0"
