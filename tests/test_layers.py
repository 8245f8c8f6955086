"""Data flows frontends -> IR -> passes -> targets, never back: the import graph says so.

Targets read graphs (``converter.ir``, ``converter.ops``, the memory plan and the fixed-point
twins) and never the project, the reference runner, a frontend, a pass or the quantizer; inside
``converter/`` only the user-facing modules reach into ``targets``. Checked on the source with
``ast`` (function-level imports included), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_TARGETS = ("project", "reference", "frontends", "passes", "quantize", "convert",
                        "compare", "cli", "serialize")
# The entry points a user calls, which drive the targets (build, run, write pages and
# projects): the CLI and its command modules, the project, the report page and the sweeps.
USER_FACING = {"project.py", "convert.py", "compare.py", "cli.py", "report_page.py", "sweeps.py"}


def _imports(path: Path, package: list[str]) -> list[str]:
    """Absolute dotted names of everything ``path`` imports (relative imports resolved)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            mod = [*base, *(node.module.split(".") if node.module else [])]
            names += [".".join([*mod, a.name]) for a in node.names]
    return names


def _modules(folder: str):
    for path in sorted((ROOT / folder).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("").parts
        yield path, ["firmforge", *rel[:-1]]


def test_targets_never_import_the_converter_side():
    bad = []
    for path, package in _modules("targets"):
        for name in _imports(path, package):
            parts = name.split(".")
            if parts[:2] == ["firmforge", "converter"] and len(parts) > 2 \
                    and parts[2] in FORBIDDEN_IN_TARGETS:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_only_user_facing_converter_modules_import_targets():
    bad = []
    for path, package in _modules("converter"):
        if (path.name in USER_FACING or path.name.startswith("cli_")) \
                and path.parent.name == "converter":
            continue
        for name in _imports(path, package):
            if name.startswith("firmforge.targets"):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_relative_and_lazy_imports(tmp_path):
    """The rule above would pass vacuously if the resolver missed imports: check it on a file
    with a lazy relative import of the project from a targets-like package."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from ...converter.project import Project\n    return Project\n")
    assert _imports(f, ["firmforge", "targets", "board"]) == ["firmforge.converter.project.Project"]
