"""A standalone host executable of the generated model and the common firmware runner.

Used to run the generated C under AddressSanitizer and UndefinedBehaviorSanitizer, where a cffi
module inside Python cannot host the sanitizer runtimes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...converter.ir import Graph
from ..paths import core_dir, core_sources, templates_dir
from .host import STRICT_FLAGS, HostBuildError, cache_root, compiler
from .vectors import parse_outputs, vector_files
from .writer import CSources

SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def core_objects(flags: Sequence[str]) -> list[Path]:
    """The C core compiled once per flag set (cached like host builds)."""
    h = hashlib.sha256(repr([sorted((p.name, p.read_text()) for p in core_dir().glob("*.[ch]")),
                              list(flags)]).encode()).hexdigest()[:20]
    final = cache_root() / "native" / h
    if not final.is_dir():
        final.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=final.parent))
        try:
            for c in core_sources():
                _cc([*flags, "-I", str(core_dir()), "-c", str(c), "-o", str(work / f"{c.stem}.o")])
            try:
                os.replace(work, final)
            except OSError:
                if not final.is_dir():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return sorted(final.glob("*.o"))


def _cc(args: Sequence[str]) -> None:
    r = subprocess.run([compiler(), *STRICT_FLAGS, *args], capture_output=True, text=True)
    if r.returncode:
        raise HostBuildError(f"native build failed:\n{r.stdout}{r.stderr}")


def run_native(src: CSources, graph: Graph, inputs: list[np.ndarray], *,
               flags: Sequence[str] = ("-O1", *SANITIZE), timeout: float = 120
               ) -> list[np.ndarray]:
    """Compile model + core + runner for the host, run it on ``inputs`` (one array per graph
    input), return its outputs (one array per graph output)."""
    objects = core_objects(flags)
    with tempfile.TemporaryDirectory(prefix="ff-native-") as d:
        work = Path(d)
        files = {**src.files, **vector_files(src, graph, inputs)}
        for name, text in files.items():
            (work / name).write_text(text)
        tdir = templates_dir()
        c_files = [*sorted(work.glob("*.c")), tdir / "common" / "main.c",
                   tdir / "host" / "platform.c"]
        exe = work / "model"
        _cc([*flags, "-I", str(core_dir()), "-I", str(work), "-I", str(tdir / "common"),
             *map(str, c_files), *map(str, objects), "-o", str(exe)])
        r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=timeout)
        if r.returncode:
            raise RuntimeError(f"native run exited with {r.returncode}:\n{r.stderr[-4000:]}")
        return parse_outputs(r.stdout, graph, len(inputs[0]))
