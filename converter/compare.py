"""Layer-by-layer comparison of an imported ``.tflite`` model with TensorFlow Lite Micro.

TFLM (the ``tflite-micro`` package, in its preserve-all-tensors mode) runs beside firmforge's
integer reference and the generated C on the host (a trace build that copies every layer's
output out of the arena). For each layer the bytes of all three are compared; on a mismatch the
first differing layer is named with its differing elements. The bar is equality, not closeness.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import reference
from .ir import Graph, random_batch


@dataclass
class LayerRow:
    """One layer's output in the three implementations."""

    op_index: int
    op: str
    node: str
    value: str
    shape: tuple[int, ...]
    dtype: str
    ref_equal: bool
    host_equal: bool | None  # None when the host C was not run
    mismatches: int  # elements where reference or host differ from TFLM
    max_abs_diff: int
    examples: list[tuple[int, tuple[int, ...], int, int, int | None]] = field(default_factory=list)
    """(sample, index, TFLM, reference, host) for the first differing elements."""

    @property
    def ok(self) -> bool:
        return self.ref_equal and self.host_equal is not False


@dataclass
class Comparison:
    model: str
    samples: int
    rows: list[LayerRow]
    arena_bytes: int
    tflm_arena_bytes: int | None
    tflm_activation_bytes: int | None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def first_mismatch(self) -> LayerRow | None:
        return next((r for r in self.rows if not r.ok), None)

    def format(self) -> str:
        """The per-layer table the CLI prints, then the verdict and arena sizes."""
        lines = [f"{self.model}: {self.samples} input(s), TFLM vs firmforge reference vs host C",
                 f"{'#':>3}  {'op':<18} {'output':<16} {'reference':<10} {'host C':<10} layer"]
        for r in self.rows:
            ref = "equal" if r.ref_equal else f"{r.mismatches} diff"
            host = "-" if r.host_equal is None else ("equal" if r.host_equal else "differs")
            lines.append(f"{r.op_index:>3}  {r.op:<18} {r.dtype + ' ' + 'x'.join(map(str, r.shape)):<16} "
                         f"{ref:<10} {host:<10} {r.node}")
        bad = self.first_mismatch
        lines.append("")
        if bad is None:
            lines.append(f"all {len(self.rows)} layers equal byte for byte")
        else:
            lines.append(f"first difference: operator {bad.op_index} ({bad.op}) {bad.node}: "
                         f"{bad.mismatches} element(s), max |diff| {bad.max_abs_diff}")
            for s, idx, t, rv, hv in bad.examples:
                host = "" if hv is None else f", host {hv}"
                lines.append(f"  sample {s} index {idx}: TFLM {t}, reference {rv}{host}")
        if self.tflm_arena_bytes is not None:
            lines.append(f"arena: firmforge {self.arena_bytes:,} B; TFLM {self.tflm_arena_bytes:,} B "
                         f"in all, {self.tflm_activation_bytes:,} B of it activations")
        return "\n".join(lines)


def _tflm():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as e:
        raise RuntimeError("comparing with TFLM needs the tflite-micro package "
                           "(pip install tflite-micro)") from e
    return runtime


def tflm_run(path: str | os.PathLike[str], inputs: list[np.ndarray], tensors: list[int],
             n_out: int = 1) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    """Run TFLM sample by sample; return its ``n_out`` outputs and the chosen tensors."""
    runtime = _tflm()
    it = runtime.Interpreter.from_file(
        str(path), arena_size=_arena_size(path),
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    n = inputs[0].shape[0]
    # One sample in the file's own shape: a tensor stored without a batch dimension (imported
    # with one prepended) takes the sample without it.
    shapes = [tuple(int(d) for d in it.get_input_details(k)["shape"]) for k in range(len(inputs))]
    outs: list[list[np.ndarray]] = []
    kept: dict[int, list[np.ndarray]] = {t: [] for t in tensors}
    for i in range(n):
        for k, x in enumerate(inputs):
            it.set_input(x[i:i + 1].reshape(shapes[k]), k)
        it.invoke()
        outs.append([np.array(it.get_output(k)) for k in range(n_out)])
        for t in tensors:
            kept[t].append(np.array(it.GetTensor(t, 0)["tensor_data"]))
    outputs = [np.concatenate([o[k] for o in outs]) for k in range(n_out)]
    return outputs, {t: np.stack(v) for t, v in kept.items()}


def tflm_arena(path: str | os.PathLike[str]) -> tuple[int, int]:
    """TFLM's own arena for the model: (total bytes, activation bytes), from its allocator log."""
    runtime = _tflm()
    with tempfile.TemporaryFile(mode="w+b") as log:
        with _stderr_to(log):
            it = runtime.Interpreter.from_file(str(path), arena_size=_arena_size(path))
            it.print_allocations()
        log.seek(0)
        text = log.read().decode(errors="replace")
    total = re.search(r"Arena allocation total (\d+) bytes", text)
    head = re.search(r"Arena allocation head (\d+) bytes", text)
    if not total or not head:
        raise RuntimeError(f"could not read TFLM's arena size from its log:\n{text[:500]}")
    return int(total.group(1)), int(head.group(1))


def _arena_size(path: str | os.PathLike[str]) -> int:
    """An arena TFLM cannot run short of: every tensor of the model once, twice over, plus room
    for its own bookkeeping (the runtime's default is sized for small models only)."""
    from .frontends.tflite_schema import read_model

    m = read_model(Path(path).read_bytes())
    tensor_bytes = sum(t.size * 8 for t in m.tensors)  # 8 B per element bounds every type
    return (1 << 20) + 2 * tensor_bytes


@contextlib.contextmanager
def _stderr_to(f):
    """Redirect the process's file descriptor 2, where TFLM's C++ logging writes."""
    import ctypes
    import sys

    libc = ctypes.CDLL(None)
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        libc.fflush(None)  # flush anything C stdio still buffers into the file
        os.dup2(saved, 2)
        os.close(saved)


def compare_tflm(path: str | os.PathLike[str], x: np.ndarray | Sequence[np.ndarray] | None = None,
                 *, samples: int = 10, seed: int = 0, host: bool = True, examples: int = 8
                 ) -> Comparison:
    """Compare TFLM, the reference and (with ``host``) the generated C on ``x`` layer by layer.

    ``x`` holds inputs of the model's own dtype and shape (batch first; one sample without the
    batch dimension is accepted), a list with one such array per input for a model with several;
    by default ``samples`` random inputs over each dtype's range. The samples run in order from
    the model's initial state, so a stateful model (an LSTM) is compared over consecutive calls.
    """
    from ..targets.c.backend import CBackend
    from .frontends.tflite import load_tflite

    imp = load_tflite(path)
    g = imp.graph
    if not imp.quantized:
        raise ValueError(f"{path} is a float model: compare checks quantized models byte for "
                         "byte (convert it with calibration data to quantize it with firmforge)")
    xs = _inputs(g, x, samples, seed)
    n = xs[0].shape[0]
    names = [o.name for node in g.nodes for o in node.outputs]
    mapped = [nm for nm in names if nm in imp.tensor_of]
    _, tf = tflm_run(path, xs, [imp.tensor_of[nm] for nm in mapped], len(g.outputs))
    _, ref = reference.run(g, xs, keep_all=True)
    traced: dict[str, np.ndarray] = {}
    backend = CBackend()
    src = backend.generate(g, f"{g.name}_trace", trace=host)
    if host:
        hm = backend.build_host(src, g)
        hm.reset()
        _, traced = hm.run_trace(*xs)
    rows = []
    for node in g.nodes:
        for out in node.outputs:
            if out.name not in imp.tensor_of:
                continue
            t = tf[imp.tensor_of[out.name]]
            if not _same_layout(t.shape[1:], tuple(out.shape)):
                # shapes before bytes: equal bytes in another layout would be a silent bug
                raise ValueError(f"layer {node.name}: TFLM's tensor has shape {t.shape[1:]} per "
                                 f"sample, firmforge's {tuple(out.shape)}")
            t = t.reshape(n, *out.shape[1:])
            r = ref[out.name]
            h = traced.get(out.name)
            rows.append(_row(imp.op_of.get(node.name, (-1, node.kind)), node.name, out, t, r, h,
                             examples))
    total = act = None
    with contextlib.suppress(RuntimeError):
        total, act = tflm_arena(path)
    return Comparison(Path(path).name, n, rows, src.plan.arena_size, total, act)


def _inputs(g: Graph, x: object, samples: int, seed: int) -> list[np.ndarray]:
    """The comparison's inputs, one array per graph input, checked against the model."""
    if x is None:
        rng = np.random.default_rng(seed)
        return [random_batch(v, samples, rng) for v in g.inputs]
    xs = [np.asarray(a) for a in x] if isinstance(x, (list, tuple)) else [np.asarray(x)]
    if len(xs) != len(g.inputs):
        raise ValueError(f"the model has {len(g.inputs)} inputs, got {len(xs)} input arrays")
    out = []
    for v, a in zip(g.inputs, xs, strict=True):
        if a.shape == tuple(v.shape[1:]):
            a = a[None]
        if a.dtype != v.dtype.np or a.shape[1:] != tuple(v.shape[1:]):
            raise ValueError(f"input {v.name} must be {v.dtype.np}[n, "
                             f"{', '.join(map(str, v.shape[1:]))}], got {a.dtype}{list(a.shape)}")
        out.append(a)
    if len({a.shape[0] for a in out}) > 1:
        raise ValueError(f"input arrays hold different numbers of samples: "
                         f"{[a.shape[0] for a in out]}")
    return out


def _same_layout(sample: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """True when TFLM's tensor of one sample (``sample``) is firmforge's ``shape`` with batch 1:
    the same shape, or the shape without its batch dimension (the importer prepends one to a
    tensor the file stores without it)."""
    return sample in ((1, *shape[1:]), tuple(shape[1:]))


def _row(op: tuple[int, str], node: str, out, t: np.ndarray, r: np.ndarray,
         h: np.ndarray | None, examples: int) -> LayerRow:
    bad = (t != r) if h is None else (t != r) | (t != h)
    diff = np.abs(t.astype(np.int64) - r.astype(np.int64))
    if h is not None:
        diff = np.maximum(diff, np.abs(t.astype(np.int64) - h.astype(np.int64)))
    ex = []
    for idx in np.argwhere(bad)[:examples]:
        i = tuple(int(k) for k in idx)
        ex.append((i[0], i[1:], int(t[i]), int(r[i]), None if h is None else int(h[i])))
    return LayerRow(op[0], op[1], node, out.name, tuple(out.shape), out.dtype.value,
                    bool(np.array_equal(t, r)), None if h is None else bool(np.array_equal(t, h)),
                    int(bad.sum()), int(diff.max()) if diff.size else 0, ex)
