"""Packaging: one `firmforge` namespace, the C core shipped in the wheel, both installs import."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _wheel(tmp_path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    [whl] = tmp_path.glob("firmforge-*.whl")
    return whl


def test_wheel_holds_one_namespace_and_the_c_core(tmp_path):
    names = zipfile.ZipFile(_wheel(tmp_path)).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("firmforge-")}
    assert tops == {"firmforge"}, tops  # nothing generic such as `converter` at the top level
    for f in ["firmforge/converter/ir.py", "firmforge/targets/c/writer.py",
              "firmforge/firmware/core/ff_fixed.h", "firmforge/firmware/core/ff_dense.c",
              "firmforge/firmware/templates/common/main.c"]:
        assert f in names, f
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "firmforge = firmforge.converter.cli:main" in zipfile.ZipFile(
        _wheel(tmp_path / "again")).read(entry).decode()


def test_regular_install_imports_from_its_own_files(tmp_path):
    whl = _wheel(tmp_path)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(whl)], check=True, capture_output=True)
    code = ("import firmforge.converter as c, firmforge.targets.paths as h; "
            "print(c.__file__); print(h.core_dir())")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env={"PYTHONPATH": str(target)}, check=True).stdout.split()
    assert out[0].startswith(str(target)) and Path(out[1], "ff_fixed.h").is_file(), out


def test_editable_install_imports_from_the_checkout(tmp_path):
    out = subprocess.run([sys.executable, "-c", "import firmforge.converter as c; print(c.__file__)"],
                         cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(out) == ROOT / "converter" / "__init__.py"
