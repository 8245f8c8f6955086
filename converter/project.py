"""The object ``convert()`` returns: one quantized model and everything a user does with it.

``reference(x)`` runs the integer reference, ``run_host(x)`` the generated C on this machine,
``report()`` gives sizes and MACs, ``write(out_dir)`` writes the C sources. Inputs come in the
framework's layout (NCHW for PyTorch images) and may be float (quantized with the input's
parameters) or already of the input's integer dtype; outputs stay quantized integers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import reference as reference_mod
from .ir import Graph, IRError
from .layout import Layout
from .report import build_report


@dataclass(eq=False)
class Project:
    """A converted model. ``graph`` is the quantized IR; ``float_graph`` the float IR it came from."""

    name: str
    graph: Graph
    float_graph: Graph | None = None
    input_layouts: Sequence[Layout] = ()
    output_layouts: Sequence[Layout] = ()
    _sources: object = field(default=None, repr=False)
    _host: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.input_layouts:
            self.input_layouts = [Layout.FLAT] * len(self.graph.inputs)
        if not self.output_layouts:
            self.output_layouts = [Layout.FLAT] * len(self.graph.outputs)

    # -- inputs and outputs ---------------------------------------------------------------------
    def prepare_input(self, x: object, index: int = 0) -> tuple[np.ndarray, bool]:
        """Framework-layout input -> IR integer batch; also says whether a batch dim was added."""
        v = self.graph.inputs[index]
        layout = self.input_layouts[index]
        arr = _as_numpy(x)
        sample = layout.framework_shape(tuple(v.shape))[1:]
        if arr.shape == sample:
            arr, added = arr[None], True
        elif arr.shape[1:] == sample:
            added = False
        else:
            raise IRError(f"input {v.name} of {self.name} expects shape [batch, "
                          f"{', '.join(map(str, sample))}] (or one sample), got {list(arr.shape)}")
        if arr.shape[0] == 0:
            raise IRError(f"input {v.name}: empty batch")
        if np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr)):
                raise IRError(f"input {v.name} contains NaN or Inf")
            ir = layout.to_ir(arr.astype(np.float32))
            return (ir if v.dtype.is_float else v.quant.quantize(ir, v.dtype)), added
        if arr.dtype != v.dtype.np:
            raise IRError(f"input {v.name} expects float data or {v.dtype.np}, got {arr.dtype}")
        return layout.to_ir(arr), added

    def _finish(self, outs: list[np.ndarray], added: bool) -> np.ndarray | list[np.ndarray]:
        res = [lay.from_ir(o) for lay, o in zip(self.output_layouts, outs, strict=True)]
        if added:
            res = [r[0] for r in res]
        return res[0] if len(res) == 1 else res

    def dequantize(self, y: np.ndarray, index: int = 0) -> np.ndarray:
        """Quantized output -> real values with the output's parameters."""
        v = self.graph.outputs[index]
        return v.quant.dequantize(y) if v.quant is not None else np.asarray(y, np.float32)

    # -- running --------------------------------------------------------------------------------
    def reference(self, x: object) -> np.ndarray:
        """The integer reference: the answer every backend must reproduce bit for bit."""
        q, added = self.prepare_input(x)
        outs, _ = reference_mod.run(self.graph, [q])
        return self._finish(outs, added)

    def tensors(self, x: object) -> dict[str, np.ndarray]:
        """Every intermediate tensor of the reference, by value name (IR layout, NHWC)."""
        q, _ = self.prepare_input(x)
        _, tensors = reference_mod.run(self.graph, [q], keep_all=True)
        return tensors

    def run_host(self, x: object) -> np.ndarray:
        """The generated C, compiled for this machine and called through cffi."""
        if self._host is None:
            from ..targets.c import host

            [self._host] = host.build([(self.sources(), self.graph)])
        q, added = self.prepare_input(x)
        return self._finish(self._host.run(q), added)

    # -- sources and sizes ----------------------------------------------------------------------
    def sources(self):
        """The generated C (in memory): a ``targets.c.writer.CSources``."""
        if self._sources is None:
            from ..targets.c.writer import generate

            self._sources = generate(self.graph, self.name)
        return self._sources

    def report(self) -> dict[str, object]:
        return build_report(self)

    def build(self, board: str, out_dir: str | os.PathLike[str], x: object | None = None):
        """Write and compile the firmware project for ``board`` (a name from ``boards/`` or a
        board file) into ``out_dir``, with ``x`` (default: a few random inputs) as its test
        vectors. Returns a ``targets.board.firmware.Firmware``: ``fw.flash_bytes``,
        ``fw.ram_bytes``, ``fw.elf``, ``fw.run(x)``."""
        from ..targets.board.firmware import build_firmware

        return build_firmware(self, board, out_dir, x)

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write the model's C sources, the C core files they use, and the project file
        (``<name>.firmforge.npz``, the quantized graph) into ``out_dir``.

        Everything is generated in memory first; files are then staged and renamed into place, so
        an error leaves no half-written output.
        """
        from ..targets.c.host import core_files
        from ..targets.c.writer import write_files
        from .serialize import SUFFIX, save_project

        src = self.sources()
        written = write_files({**src.files, **core_files(src.headers)}, Path(out_dir))
        # the quantized graph beside the sources, for `firmforge build/run OUT`
        return [*written, save_project(self, Path(out_dir) / f"{src.prefix}{SUFFIX}")]


def _as_numpy(x: object) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)
