"""The sync package's layout (docs/architecture.md, "Layout"): its modules import one way,
each only from modules below it in ``LAYERS``, so the engine reads top to bottom and no step
reaches back into the one that calls it. Imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

import tray_client.sync

SYNC = Path(tray_client.sync.__file__).parent

# Top to bottom, as docs/architecture.md lists them.
LAYERS = ["engine", "deletions", "push", "pull", "pages", "writes", "matching", "apply", "context",
          "actions", "merge", "config", "rules", "mapping", "crm_write", "values", "rows",
          "report", "state", "schema", "readahead", "scratch", "lock"]


def sibling_imports(path: Path) -> set[str]:
    """The sync modules ``path`` imports (``from .x import …``, ``from . import x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_every_sync_module_has_its_place_in_the_layers():
    modules = {p.stem for p in SYNC.glob("*.py")} - {"__init__"}
    assert modules == set(LAYERS)


def test_sync_modules_import_only_modules_below_them():
    upward = []
    for position, name in enumerate(LAYERS):
        for imported in sorted(sibling_imports(SYNC / f"{name}.py")):
            if imported not in LAYERS[position + 1:]:
                upward.append(f"{name} imports {imported}")
    assert upward == []
