"""Build generated C for the host and call it from Python through cffi (API mode).

The C core and the model sources are compiled by gcc with the project's strict flags
(``-std=c99 -Wall -Wextra -Werror``), then linked into a cffi extension module. Builds are cached
under ``$FIRMFORGE_CACHE`` (default ``~/.cache/firmforge``) by a hash of every source and flag, so
a test that runs the same model twice compiles it once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from ...converter.ir import Graph
from ..paths import core_dir, core_sources
from .boundary import from_c, io_count, io_ctype, io_np, to_c
from .writer import CSources

STRICT_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
HOST_FLAGS = ["-O2", "-fPIC"]


class HostBuildError(RuntimeError):
    """The host compiler rejected generated or core C; the message has its output."""


def cache_root() -> Path:
    root = os.environ.get("FIRMFORGE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "firmforge"


def compiler() -> str:
    return os.environ.get("CC", "gcc")


@dataclass
class HostModel:
    """One generated model inside a built host module."""

    lib: object
    ffi: object
    prefix: str
    graph: Graph
    trace: list[tuple[str, int, int]] | None = None

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Run every sample of a batch (dimension 0) through ``<prefix>_run``, in order: a
        stateful model carries its state from each sample to the next."""
        return self._run(inputs)[0]

    def reset(self) -> None:
        """Restore a stateful model's state (``<prefix>_reset``); nothing for the others."""
        if self.graph.stateful:
            getattr(self.lib, f"{self.prefix}_reset")()

    def run_trace(self, *inputs: np.ndarray) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        """Outputs plus every node's output (by value name), from a ``trace=True`` build."""
        if self.trace is None:
            raise ValueError(f"{self.prefix} was not generated with trace=True")
        return self._run(inputs)

    def _run(self, inputs) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        g = self.graph
        if len(inputs) != len(g.inputs):
            raise ValueError(f"{self.prefix} takes {len(g.inputs)} inputs, got {len(inputs)}")
        xs = []
        for v, x in zip(g.inputs, inputs, strict=True):
            x = np.asarray(x)
            if x.dtype != v.dtype.np or tuple(x.shape[1:]) != tuple(v.shape[1:]):
                raise ValueError(f"input {v.name}: expected {v.dtype.np}[batch, "
                                 f"{', '.join(map(str, v.shape[1:]))}], got {x.dtype}{list(x.shape)}")
            xs.append(to_c(v, x))
        batch = xs[0].shape[0]
        outs = [np.zeros((batch, io_count(v)), io_np(v)) for v in g.outputs]
        tracing = self.trace is not None
        if tracing:
            size = max((o + n for _, o, n in self.trace), default=0)
            traces = np.zeros((batch, max(size, 1)), np.int8)
        fn = getattr(self.lib, f"{self.prefix}_run_trace" if tracing else f"{self.prefix}_run")
        ffi = self.ffi
        for i in range(batch):
            # slices, not x[i]: a sample of shape () would be a read-only numpy scalar
            args = [ffi.from_buffer(f"{io_ctype(v)}[]", x[i:i + 1]) for v, x in
                    zip(g.inputs, xs, strict=True)]
            args += [ffi.from_buffer(f"{io_ctype(v)}[]", o[i:i + 1], require_writable=True)
                     for v, o in zip(g.outputs, outs, strict=True)]
            if tracing:
                args.append(ffi.from_buffer("int8_t[]", traces[i], require_writable=True))
            fn(*args)
        outs = [from_c(v, o) for v, o in zip(g.outputs, outs, strict=True)]
        if not tracing:
            return outs, {}
        values = {v.name: v for v in g.values()}
        tensors = {}
        for name, off, n in self.trace:
            v = values[name]
            raw = np.ascontiguousarray(traces[:, off:off + n])
            # a trace copies a value's bytes as the arena holds them: b1 as packed words
            tensors[name] = from_c(v, raw.view(io_np(v)))
        return outs, tensors


def build(models: Sequence[tuple[CSources, Graph]], *, extra_flags: Sequence[str] = ()
          ) -> list[HostModel]:
    """Compile ``models`` (sources with their graphs) into one cffi module and load it."""
    flags = [*STRICT_FLAGS, *HOST_FLAGS, *extra_flags]
    files: dict[str, str] = {}
    for src, _ in models:
        for name, text in src.files.items():
            if name in files:
                raise ValueError(f"two models both generate {name}; give them different names")
            files[name] = text
    core = {p.name: p.read_text() for p in core_dir().glob("*.[ch]")}
    h = hashlib.sha256()
    for part in (sorted(files.items()), sorted(core.items()), flags, sys.version,
                 [p for s, _ in models for p in s.prototypes],
                 [s.trace is not None for s, _ in models]):
        h.update(repr(part).encode())
    key = h.hexdigest()[:20]
    modname = f"_ffhost_{key}"
    final = cache_root() / "host" / key
    so = next(final.glob(f"{modname}*.so"), None) if final.is_dir() else None
    if so is None:
        so = _compile(final, modname, files, models, flags)
    mod = _load(modname, so)
    built = [HostModel(mod.lib, mod.ffi, src.prefix, g, src.trace) for src, g in models]
    for m in built:
        m.reset()  # the state starts at its reset values, as after TFLM's AllocateTensors
    return built


def _compile(final: Path, modname: str, files: dict[str, str],
             models: Sequence[tuple[CSources, Graph]], flags: list[str]) -> Path:
    import cffi

    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=final.parent))
    try:
        src_dir = work / "src"
        src_dir.mkdir()
        for name, text in files.items():
            (src_dir / name).write_text(text)
        objects = []
        c_files = core_sources() + sorted(src_dir.glob("*.c"))
        procs = []
        for c in c_files:
            obj = work / f"{c.parent.name}_{c.stem}.o"
            cmd = [compiler(), *flags, "-I", str(core_dir()), "-I", str(src_dir), "-c", str(c),
                   "-o", str(obj)]
            procs.append((c, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True)))
            objects.append(str(obj))
        errors = []
        for c, p in procs:
            out, _ = p.communicate()
            if p.returncode:
                errors.append(f"{c.name}:\n{out}")
        if errors:
            raise HostBuildError("host compile failed:\n" + "\n".join(errors))
        ffi = cffi.FFI()
        ffi.cdef("\n".join(p for s, _ in models for p in s.prototypes))
        includes = "\n".join(f'#include "{s.prefix}.h"' for s, _ in models)
        ffi.set_source(modname, includes, include_dirs=[str(src_dir), str(core_dir())],
                       extra_objects=objects, extra_compile_args=["-O1"])
        so = Path(ffi.compile(tmpdir=str(work / "cffi"), verbose=False))
        out = work / "out"
        out.mkdir()
        shutil.copy2(so, out / so.name)
        try:
            os.replace(out, final)
        except OSError:
            if not final.is_dir():  # another process may have built the same key meanwhile
                raise
        return next(final.glob(f"{modname}*.so"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load(modname: str, so: Path) -> ModuleType:
    if modname in sys.modules:
        return sys.modules[modname]
    spec = importlib.util.spec_from_file_location(modname, so)
    if spec is None or spec.loader is None:
        raise HostBuildError(f"cannot load {so}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules[modname] = mod
    return mod
