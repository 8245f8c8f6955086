"""The object ``convert()`` returns: one quantized model and everything a user does with it.

    proj.reference(x)            the integer reference (the answer every backend reproduces)
    proj.run_host(x)             the generated C, compiled for this machine (cffi)
    proj.verify(x)               host C == reference, or the first difference
    proj.reset()                 restart a stateful model (LSTM, spiking) from its reset state
    proj.build(board, out, x)    firmware project for a board, built; ``.run(x)`` in its emulator
    proj.write(out)              the C sources; proj.report(): sizes and MACs

A model with several inputs takes one positional argument per input (``proj.reference(a, b)``;
a list ``[a, b]`` works too) and returns a list of outputs when it has several. Inputs come in
the framework's layout (NCHW for PyTorch images) and may be float (quantized with the input's
parameters) or already of the input's integer dtype; outputs stay quantized integers.

A stateful model carries its state from one call to the next, and from one sample of a batch
to the next, as TFLM carries variable tensors across ``Invoke()``; ``reset()`` restarts the
reference and the host C alike. The Project orchestrates the targets (generate -> build -> run
-> compare); the targets never compute the reference.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import reference as reference_mod
from .ir import Graph, IRError, random_batch
from .layout import Layout
from .profile import Profile
from .report import build_report


@dataclass(eq=False)
class Project:
    """A converted model. ``graph`` is the quantized IR; ``float_graph`` the float IR it came from."""

    name: str
    graph: Graph
    float_graph: Graph | None = None
    input_layouts: Sequence[Layout] = ()
    output_layouts: Sequence[Layout] = ()
    backend: object = None  # a targets.backend.Backend; None: the MCU C backend
    budget_plan: object = None  # compress.budget.BudgetPlan when convert() had a flash budget
    _sources: object = field(default=None, repr=False)
    _host: object = field(default=None, repr=False)
    _state: dict | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.input_layouts:
            self.input_layouts = [Layout.FLAT] * len(self.graph.inputs)
        if not self.output_layouts:
            self.output_layouts = [Layout.FLAT] * len(self.graph.outputs)
        if self.backend is None:
            from ..targets.c.backend import CBackend

            self.backend = CBackend()

    def using(self, backend: object) -> Project:
        """The same model driven through another backend (``targets.backend.Backend``): its
        ``sources()``, ``write()``, ``run_host()`` and ``verify()`` then use that target."""
        return Project(self.name, self.graph, self.float_graph, self.input_layouts,
                       self.output_layouts, backend)

    # -- inputs and outputs ---------------------------------------------------------------------
    def prepare_inputs(self, xs: Sequence[object]) -> tuple[list[np.ndarray], bool]:
        """Framework-layout inputs (one per graph input, or one list of them) -> IR integer
        batches; also says whether a batch dimension was added (one sample given)."""
        n = len(self.graph.inputs)
        if len(xs) == 1 and n > 1 and isinstance(xs[0], (list, tuple)):
            xs = tuple(xs[0])
        if len(xs) != n:
            names = ", ".join(v.name for v in self.graph.inputs)
            raise IRError(f"{self.name} takes {n} input{'s' * (n > 1)} ({names}), got {len(xs)}")
        prepared = [self.prepare_input(x, i) for i, x in enumerate(xs)]
        added = {a for _, a in prepared}
        if len(added) > 1 or len({len(q) for q, _ in prepared}) > 1:
            raise IRError(f"inputs of {self.name} must all be batches of the same size, or all "
                          "single samples")
        return [q for q, _ in prepared], added.pop()

    def prepare_input(self, x: object, index: int = 0) -> tuple[np.ndarray, bool]:
        """One framework-layout input -> IR integer batch, and whether a batch dim was added."""
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

    def finish(self, outs: Sequence[np.ndarray], added: bool = False
               ) -> np.ndarray | list[np.ndarray]:
        """IR outputs -> framework layout: one array, or a list when the model has several."""
        res = [lay.from_ir(o) for lay, o in zip(self.output_layouts, outs, strict=True)]
        if added:
            res = [r[0] for r in res]
        return res[0] if len(res) == 1 else res

    def dequantize(self, y: np.ndarray, index: int = 0) -> np.ndarray:
        """Quantized output -> real values with the output's parameters."""
        v = self.graph.outputs[index]
        return v.quant.dequantize(y) if v.quant is not None else np.asarray(y, np.float32)

    def random_inputs(self, n: int = 4, seed: int = 0) -> list[np.ndarray]:
        """``n`` random samples per input (IR layout, the input's dtype): default test vectors."""
        rng = np.random.default_rng(seed)
        return [random_batch(v, n, rng) for v in self.graph.inputs]

    # -- running --------------------------------------------------------------------------------
    def reference(self, *xs: object) -> np.ndarray | list[np.ndarray]:
        """The integer reference: the answer every backend must reproduce bit for bit."""
        q, added = self.prepare_inputs(xs)
        outs, _ = reference_mod.run(self.graph, q, state=self._reference_state())
        return self.finish(outs, added)

    def tensors(self, *xs: object) -> dict[str, np.ndarray]:
        """Every intermediate tensor of the reference, by value name (IR layout, NHWC); a
        stateful model runs from its current state, which this leaves unchanged."""
        q, _ = self.prepare_inputs(xs)
        state = {k: a.copy() for k, a in self._reference_state().items()}
        _, tensors = reference_mod.run(self.graph, q, keep_all=True, state=state)
        return tensors

    def run_host(self, *xs: object) -> np.ndarray | list[np.ndarray]:
        """The generated C, compiled for this machine and called through cffi."""
        q, added = self.prepare_inputs(xs)
        return self.finish(self.host().run(*q), added)

    def verify(self, *xs: object):
        """Run ``xs`` from the reset state in the reference and the host C; returns None when
        every output is equal, else a ``targets.backend.Mismatch`` naming the first difference."""
        q, _ = self.prepare_inputs(xs)
        want, _ = reference_mod.run(self.graph, q)
        return self.backend.verify(self.host(), q, want)

    def reset(self) -> None:
        """Restore the state of a stateful model in the reference and the host C."""
        self._state = None
        if self._host is not None:
            self._host.reset()

    def _reference_state(self) -> dict:
        if self._state is None:
            self._state = reference_mod.initial_state(self.graph)
        return self._state

    def host(self):
        """The host build of the generated code (compiled, or loaded from the cache, on first
        use): ``host().run(*batches)`` in IR layout, ``host().reset()``."""
        if self._host is None:
            self._host = self.backend.build_host(self.sources(), self.graph)
        return self._host

    # -- sources, files, firmware ---------------------------------------------------------------
    def sources(self):
        """The generated C (in memory): a ``targets.c.writer.CSources``."""
        if self._sources is None:
            self._sources = self.backend.generate(self.graph, self.name)
        return self._sources

    def report(self) -> dict[str, object]:
        return build_report(self)

    def report_html(self, out_dir: str | os.PathLike[str], calibration: object = None,
                    firmware: Firmware | None = None, run: RunResult | None = None) -> Path:
        """Write the HTML report (``index.html``, ``report.json``, the figures) into
        ``out_dir`` and return the page's path (``report_page.py``). ``calibration``: float
        inputs for the per-layer output error (and a spiking net's spike counts); a profile
        build's ``firmware`` and its ``run`` add flash, RAM and the instruction profile."""
        from .report_page import write_report

        return write_report(self, out_dir, calibration=calibration, firmware=firmware, run=run)

    def build(self, board: str, out_dir: str | os.PathLike[str], *xs: object,
              profile: bool = False, timeout: float = 120) -> Firmware:
        """Write and compile the firmware project for ``board`` (a name from ``boards/`` or a
        board file) into ``out_dir``, with ``xs`` (one batch per input; default a few random
        inputs) as its test vectors. Returns a ``Firmware``: ``fw.flash_bytes``,
        ``fw.code_bytes``, ``fw.ram_bytes``, ``fw.elf``, ``fw.run()``.

        ``profile``: the model calls a mark after each layer, and ``fw.run().profile`` gives
        instructions (cycles on AVR) per layer; the default build has no marks at all. On a
        board whose stack is ``"auto"`` the build runs the vectors once in the emulator (within
        ``timeout`` seconds) to size the stack."""
        from ..targets.board.firmware import build_firmware
        from ..targets.c.backend import CBackend

        if not isinstance(self.backend, CBackend):
            raise IRError(f"boards run the MCU C backend; this project uses {self.backend.name}")
        vectors = self.prepare_inputs(xs)[0] if xs else self.random_inputs()
        src = self.backend.generate(self.graph, self.name, profile=True) if profile \
            else self.sources()
        return Firmware(self, build_firmware(src, self.graph, board, out_dir, vectors,
                                             profile=profile, timeout=timeout))

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write the model's C sources, the C core files they use, and the project file
        (``<name>.firmforge.npz``, the quantized graph) into ``out_dir``.

        Everything is generated in memory first; files are then staged and renamed into place, so
        an error leaves no half-written output.
        """
        from .serialize import SUFFIX, save_project

        src = self.sources()
        written = self.backend.write(src, out_dir)
        # the quantized graph beside the sources, for `firmforge build/run OUT`
        return [*written, save_project(self, Path(out_dir) / f"{src.prefix}{SUFFIX}")]

    def write_hls(self, out_dir: str | os.PathLike[str], part: str | None = None,
                  clock_ns: float | None = None, reuse: int | dict[str, int] = 1,
                  io: str = "parallel", flavor: str = "ap", board: str | None = None,
                  vectors: Sequence[np.ndarray] | None = None):
        """Write a Vitis HLS C++ project of the model into ``out_dir`` and return its
        ``targets.hls.project.HlsProject`` (``hp.csim(x)``, ``hp.estimates``).

        ``part`` and ``clock_ns`` (or a ``board`` from ``boards/`` of kind fpga or asic, which
        gives both); ``reuse``: the reuse factor, one for every layer or one per layer name;
        ``io``: "parallel" (arrays) or "stream" (streams at the top); ``flavor``: "ap" (ap_int,
        Vitis HLS) or "ac" (ac_int, Catapult). ``vectors`` (IR-layout batches, default a few
        random inputs) go into ``tb_data/`` with the reference's outputs, so the project's own
        C simulation compares against them. Unsupported ops are all listed (an
        ``HlsError``) before anything is written."""
        from ..targets.hls.backend import HlsBackend
        from ..targets.hls.context import Flavor, HlsOptions, IoStyle
        from ..targets.hls.csim import output_lines, vector_lines
        from ..targets.hls.errors import HlsError
        from ..targets.hls.project import HlsProject

        if board is not None:
            from ..targets.board.spec import load_hls_board

            b = load_hls_board(board)
            part = part or b.part or "asic"
            clock_ns = clock_ns if clock_ns is not None else b.clock_ns
        try:
            options = HlsOptions(part, clock_ns, reuse, IoStyle(io), Flavor(flavor))
        except ValueError:
            raise HlsError(f"io is 'parallel' or 'stream' and flavor 'ap' or 'ac', got {io!r} "
                           f"and {flavor!r}") from None
        backend = HlsBackend(options)
        hls = replace(self, backend=backend, _sources=None, _host=None, _state=None)
        src = hls.sources()  # raises before anything is written
        q = list(vectors) if vectors is not None else self.random_inputs()
        want, _ = reference_mod.run(self.graph, q)
        extra = {"tb_data/tb_input.txt": vector_lines(src.inputs, q, True),
                 "tb_data/tb_expected.txt": output_lines(src.outputs, want)}
        files = backend.write(src, out_dir, extra)
        return HlsProject(Path(out_dir), src, files, hls)


@dataclass
class RunResult:
    """What the firmware printed, decoded, beside the reference of the same inputs."""

    outputs: np.ndarray | list[np.ndarray]  # framework layout, the model's output dtype(s)
    reference: np.ndarray | list[np.ndarray]
    counts: list[int]  # per inference
    unit: str  # "instructions" (QEMU) or "cycles" (simavr)
    seconds: float
    log: str = field(repr=False, default="")
    stack_bytes: int | None = None  # the stack's high-water mark over the run (painted stack)
    stack_reserved: int | None = None  # the stack the firmware reserves
    profile: Profile | None = None  # profile builds: per layer, of the first inference

    @property
    def equal(self) -> bool:
        a, b = self.outputs, self.reference
        if isinstance(a, list):
            return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
        return bool(np.array_equal(a, b))

    @property
    def instructions(self) -> int | None:
        """Instructions per inference (median over the vectors); None where cycles are counted."""
        return int(np.median(self.counts)) if self.unit == "instructions" and self.counts else None

    @property
    def cycles(self) -> int | None:
        return int(np.median(self.counts)) if self.unit == "cycles" and self.counts else None


@dataclass
class Firmware:
    """A project built for a board: sizes from the ELF, ``run()`` in the board's emulator."""

    project: Project
    built: object  # targets.board.firmware.BuiltFirmware

    @property
    def board(self):
        return self.built.board

    @property
    def elf(self) -> Path:
        return self.built.elf

    @property
    def dir(self) -> Path:
        return self.built.dir

    @property
    def flash_bytes(self) -> int:
        return self.built.flash_bytes

    @property
    def ram_bytes(self) -> int:
        return self.built.ram_bytes

    @property
    def const_bytes(self) -> int:
        """Weights, biases and requantization tables in flash."""
        return self.built.const_bytes

    @property
    def code_bytes(self) -> int:
        """Flash minus the model's constants (weights, tables, parameter structs) and the test
        vectors, from the linker map: the kernels, the model's call sequence and the runner."""
        return self.built.code_bytes

    @property
    def flash_split(self):
        """``targets.board.build.FlashSplit``: code, weights, params and vectors in bytes."""
        return self.built.flash_split

    @property
    def stack_reserved(self) -> int:
        """The stack the firmware reserves (sized from a measurement on an "auto" board)."""
        return self.built.stack_reserved

    @property
    def stack_measured(self) -> int | None:
        """The measurement an "auto" board's stack was sized from (None: a fixed stack)."""
        return self.built.stack_measured

    @property
    def min_flash(self) -> int:
        """Flash the image needs at least (constants and vectors), known before compiling."""
        return self.built.min_flash

    @property
    def min_ram(self) -> int:
        """RAM the image needs at least (arena, state, reserved stack), a true lower bound."""
        return self.built.min_ram

    def run(self, *xs: object, timeout: float = 120) -> RunResult:
        """Run ``xs`` (default: the vectors built in) on the emulator, from the reset state, and
        compare with the reference of the same inputs byte for byte. New vectors rebuild once."""
        proj = self.project
        q = proj.prepare_inputs(xs)[0] if xs else self.built.vectors
        run = self.built.run(q, timeout=timeout)
        want, _ = reference_mod.run(proj.graph, q)
        profile = None
        if self.built.profile and run.counts:
            marks = run.layers[0] if run.layers else []
            profile = Profile.of(proj.graph, marks, run.counts[0], run.unit)
        return RunResult(proj.finish(run.outputs), proj.finish(want), run.counts, run.unit,
                         run.seconds, run.log, run.stack_bytes, run.stack_reserved, profile)


def _as_numpy(x: object) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)
