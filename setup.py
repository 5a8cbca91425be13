"""Build hook: the tray icons in the wheel.

All metadata lives in pyproject.toml. The state icons have one home, the top-level
``resources/icons/`` (the PyInstaller spec and the Linux installer read the same folder),
but package data must sit inside the package. So ``build_py`` copies them into the built
package as ``tray_client/resources/icons/``, where ``tray_client.gui.icons.icons_dir()``
looks first. A ``package-dir`` mapping of ``resources`` as a subpackage was the other way;
it would turn a plain folder into a package of the import system (and of editable
installs' finders) for the sake of six files. An editable install copies nothing: the
package then runs from the checkout and finds ``resources/icons`` beside it. MANIFEST.in
puts ``resources/`` into the sdist, so a wheel built from the sdist gets the icons too.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# Top-level folder → folder inside the package (only what the code loads at run time).
PACKAGED_RESOURCES = {"resources/icons": "tray_client/resources/icons"}


class build_py_with_resources(build_py):
    """``build_py`` that also copies ``PACKAGED_RESOURCES`` into the build."""

    def resource_mapping(self) -> dict[str, str]:
        """Built file → source file, for every file of the packaged resource folders."""
        mapping = {}
        for source_dir, target_dir in PACKAGED_RESOURCES.items():
            for source in sorted((ROOT / source_dir).rglob("*")):
                if source.is_file():
                    relative = source.relative_to(ROOT / source_dir)
                    mapping[str(Path(self.build_lib, target_dir, relative))] = str(source)
        return mapping

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the package runs from the checkout, beside resources/
            return
        for target, source in self.resource_mapping().items():
            self.mkpath(str(Path(target).parent))
            self.copy_file(source, target, preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        return outputs + [path for path in self.resource_mapping() if path not in outputs]

    def get_output_mapping(self) -> dict[str, str]:
        return {**super().get_output_mapping(), **self.resource_mapping()}


setup(cmdclass={"build_py": build_py_with_resources})
