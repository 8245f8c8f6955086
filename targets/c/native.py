"""A standalone host executable of the generated model and the common firmware runner.

Used to run the generated C under AddressSanitizer and UndefinedBehaviorSanitizer, where a cffi
module inside Python cannot host the sanitizer runtimes.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...converter.ir import Graph
from .host import STRICT_FLAGS, HostBuildError, compiler, core_dir, core_sources
from .vectors import parse_outputs, vector_files
from .writer import CSources

SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def templates_dir() -> Path:
    return core_dir().parent / "templates"


def run_native(src: CSources, graph: Graph, inputs: np.ndarray, *,
               flags: Sequence[str] = ("-O1", *SANITIZE), timeout: float = 120) -> np.ndarray:
    """Compile model + core + runner for the host, run it on ``inputs``, return its outputs."""
    with tempfile.TemporaryDirectory(prefix="ff-native-") as d:
        work = Path(d)
        files = {**src.files, **vector_files(src, graph, inputs)}
        for name, text in files.items():
            (work / name).write_text(text)
        tdir = templates_dir()
        c_files = [*core_sources(), *sorted(work.glob("*.c")), tdir / "common" / "main.c",
                   tdir / "host" / "platform.c"]
        exe = work / "model"
        cmd = [compiler(), *STRICT_FLAGS, *flags, "-I", str(core_dir()), "-I", str(work),
               "-I", str(tdir / "common"), *map(str, c_files), "-o", str(exe)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise HostBuildError(f"native build failed:\n{r.stdout}{r.stderr}")
        r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=timeout)
        if r.returncode:
            raise RuntimeError(f"native run exited with {r.returncode}:\n{r.stderr[-4000:]}")
        return parse_outputs(r.stdout, graph, len(inputs))
