"""C simulation without vendor tools: the generated project compiled with g++ against the
ap_types (or ac_types) headers shipped inside the installed hls4ml wheel, then its testbench
run on test vectors.

The headers are found from the installed package (``hls4ml/templates/vivado/ap_types``,
``hls4ml/templates/catapult/ac_types/include``) and never copied. Binaries are cached under
``$FIRMFORGE_CACHE/hls`` by a hash of every source and flag, so a project compiles once.
GCC prints many warnings from inside ap_types, so there is no -Werror here; ``#pragma HLS``
lines are ignored (``-Wno-unknown-pragmas``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ...converter.ir import DType
from ..c.host import cache_root
from .context import Flavor
from .errors import HlsBuildError, HlsError
from .writer import HlsSources, Port

FLAGS = ["-O2", "-std=c++14", "-Wno-unknown-pragmas"]
COMPILE_TIMEOUT = 600


def _hls4ml_dir() -> Path:
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise HlsError("the HLS C simulation needs the ap_types headers of the hls4ml package "
                       "(pip install hls4ml==1.3.0)")
    return Path(next(iter(spec.submodule_search_locations)))


def ap_types_dir() -> Path:
    d = _hls4ml_dir() / "templates" / "vivado" / "ap_types"
    if not (d / "ap_int.h").is_file():
        raise HlsError(f"no ap_int.h in {d}: reinstall hls4ml==1.3.0")
    return d


def ac_types_dir() -> Path | None:
    """The ac_types headers when the installed hls4ml ships them, else None."""
    try:
        d = _hls4ml_dir() / "templates" / "catapult" / "ac_types" / "include"
    except HlsError:
        return None
    return d if (d / "ac_int.h").is_file() else None


def compile_csim(src: HlsSources, trace: bool = False) -> Path:
    """The testbench binary of ``src`` (compiled, or from the cache); ``trace``: a build that
    also writes every layer's output (FF_HLS_TRACE)."""
    if src.options.flavor is Flavor.AC:
        inc = ac_types_dir()
        if inc is None:
            raise HlsError("the ac_int flavour needs the ac_types headers of the hls4ml package")
    else:
        inc = ap_types_dir()
    cxx = shutil.which(os.environ.get("CXX", "g++"))
    if cxx is None:
        raise HlsError("the HLS C simulation needs g++ (or $CXX)")
    flags = [*FLAGS, "-DFF_HLS_TRACE_ON"] if trace else FLAGS
    h = hashlib.sha256()
    for k in [cxx, *flags, str(inc), *sorted(src.files)]:
        h.update(k.encode() + b"\0")
    for k in sorted(src.files):
        h.update(src.files[k].encode() + b"\0")
    final = cache_root() / "hls" / h.hexdigest()[:24]
    binary = final / "csim"
    if binary.is_file():
        return binary
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent) as tmp:
        t = Path(tmp)
        for rel, body in src.files.items():
            (t / rel).parent.mkdir(parents=True, exist_ok=True)
            (t / rel).write_text(body)
        cmd = [cxx, *flags, f"-I{t / 'src'}", f"-I{inc}", str(t / "src" / f"{src.prefix}.cpp"),
               str(t / "tb" / "tb.cpp"), "-o", str(t / "csim")]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
        if r.returncode:
            errors = [ln for ln in r.stderr.splitlines() if "error" in ln][:20]
            raise HlsBuildError(f"g++ failed on the generated HLS C++ of {src.prefix}:\n" +
                                "\n".join(errors or r.stderr.splitlines()[-20:]))
        try:
            os.replace(t, final)
        except OSError:  # another process cached it first
            pass
        t.mkdir(exist_ok=True)  # TemporaryDirectory cleans up what is left
    return binary


def to_file_values(p: Port, batch: np.ndarray) -> np.ndarray:
    """IR integers of one port -> the testbench's numbers (b1: bit 1 for +1)."""
    flat = np.asarray(batch).reshape(len(batch), -1).astype(np.int64)
    return (flat > 0).astype(np.int64) if p.value.dtype is DType.b1 else flat


def from_file_values(p: Port, flat: np.ndarray) -> np.ndarray:
    v = p.value
    if v.dtype is DType.b1:
        flat = np.where(flat > 0, 1, -1)
    return flat.astype(v.dtype.np).reshape(len(flat), *v.shape[1:])


def vector_lines(ports: list[Port], batches: list[np.ndarray], reset_first: bool) -> str:
    """Test vectors in the testbench's format: per inference a reset flag, then the inputs."""
    cols = np.concatenate([to_file_values(p, b) for p, b in zip(ports, batches, strict=True)],
                          axis=1)
    flags = np.zeros(len(cols), np.int64)
    flags[0] = int(reset_first)
    return "".join(f"{f} {' '.join(map(str, row))}\n" for f, row in zip(flags, cols.tolist(),
                                                                        strict=True))


def output_lines(ports: list[Port], batches: list[np.ndarray]) -> str:
    cols = np.concatenate([to_file_values(p, b) for p, b in zip(ports, batches, strict=True)],
                          axis=1)
    return "".join(" ".join(map(str, row)) + "\n" for row in cols.tolist())


def run_csim(binary: Path, src: HlsSources, batches: list[np.ndarray], timeout: float = 600,
             trace: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:
    """Run the testbench on ``batches`` (one per input, IR layout) from the reset state; a
    trace build fills ``trace`` with every layer output by value name (IR layout)."""
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = Path(tmp) / "in.txt", Path(tmp) / "out.txt"
        fin.write_text(vector_lines(src.inputs, batches, True))
        env = {**os.environ, "FF_HLS_TRACE": str(Path(tmp) / "trace.txt")}
        r = subprocess.run([str(binary), str(fin), str(fout), str(Path(tmp) / "none")],
                           capture_output=True, text=True, timeout=timeout, env=env)
        if trace is not None:
            trace.update(_parse_trace(src, Path(tmp) / "trace.txt", len(batches[0])))
        if r.returncode:
            raise HlsError(f"the C simulation of {src.prefix} failed ({r.returncode}): "
                           f"{r.stderr.strip()[-500:]}")
        rows = [list(map(int, ln.split())) for ln in fout.read_text().splitlines()]
    data = np.array(rows, np.int64).reshape(len(rows), -1)
    outs, at = [], 0
    for p in src.outputs:
        outs.append(from_file_values(p, data[:, at:at + p.size]))
        at += p.size
    return outs


def _parse_trace(src: HlsSources, path: Path, samples: int) -> dict[str, np.ndarray]:
    """Trace lines ("id values...", every traced value once per inference) -> arrays."""
    rows: dict[int, list[list[int]]] = {i: [] for i in range(len(src.traced))}
    if path.is_file():
        for line in path.read_text().splitlines():
            head, *vals = line.split()
            rows[int(head)].append([int(v) for v in vals])
    out = {}
    for i, p in enumerate(src.traced):
        if len(rows[i]) == samples:
            out[p.value.name] = from_file_values(p, np.array(rows[i], np.int64).reshape(samples,
                                                                                         -1))
    return out
