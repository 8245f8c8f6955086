"""Maps the fixed top-level folders into the single ``firmforge`` namespace.

``converter/`` becomes ``firmforge.converter``, ``targets/`` ``firmforge.targets`` and so on, so no
generic top-level module (``converter``) is installed. Packages are found by walking the folders,
so adding a subpackage needs no edit here; C sources, templates and board files ship as package data.
"""

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
CODE = ["converter", "targets", "snn"]
DATA = {"firmware": ["**/*.c", "**/*.h", "**/*.ld", "**/*.S", "**/*.mk", "**/Makefile", "**/*.j2",
                     "**/*.toml", "**/*.md"],
        "boards": ["*.toml"]}


def _packages(folder: str) -> dict[str, str]:
    found = {}
    for init in sorted((ROOT / folder).rglob("__init__.py")):
        rel = init.parent.relative_to(ROOT)
        found[".".join(("firmforge", *rel.parts))] = rel.as_posix()
    return found


package_dir: dict[str, str] = {}
for folder in CODE + list(DATA):
    package_dir.update(_packages(folder))

setup(
    packages=sorted(package_dir),
    package_dir=package_dir,
    package_data={f"firmforge.{name}": globs for name, globs in DATA.items()},
    include_package_data=False,
)
