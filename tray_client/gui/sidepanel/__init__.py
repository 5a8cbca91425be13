"""The side panel (GitHub issue #5): create leads, opportunities and cases in the CRM.

``SidePanel(SidePanelContext(...))`` is the window; ``CreateDialog`` the form of one kind.
See ``panel.py``'s docstring for how the tray app wires it.
"""

from .form_dialog import CreateDialog
from .panel import SidePanel, SidePanelContext

__all__ = ["CreateDialog", "SidePanel", "SidePanelContext"]
