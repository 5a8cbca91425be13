"""The facade the GUI is written against (gui/facade.py's ClientFacade) is the real one's:
every member the protocol names exists on ``Client``, as a method where the protocol has a
method. (``mypy`` checks the signatures; this keeps the names honest without it.)"""

from __future__ import annotations

import inspect

from tray_client.client import Client
from tray_client.gui.facade import ClientFacade


def _protocol_members() -> tuple[set[str], set[str]]:
    attributes = set(ClientFacade.__annotations__)
    methods = {name for name, value in vars(ClientFacade).items()
               if not name.startswith("_") and (inspect.isfunction(value)
                                                or isinstance(value, property))}
    return attributes, methods


def test_the_real_client_has_every_member_of_the_gui_facade(tmp_path):
    attributes, methods = _protocol_members()
    assert {"paths", "settings", "store_warning"} <= attributes
    assert {"sync", "history", "pending_changes", "drop_from_queue", "store"} <= methods
    with Client(tmp_path / "home") as client:
        missing = sorted(name for name in attributes | methods if not hasattr(client, name))
        assert not missing, f"Client lacks {missing}"
        for name in methods:
            declared = vars(ClientFacade)[name]
            real = inspect.getattr_static(Client, name)
            assert isinstance(real, property) == isinstance(declared, property), name
