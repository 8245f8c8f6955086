"""``convert()`` for spiking networks: snnTorch modules (and NIR graphs) -> a SpikingProject.

The frontend gives a float graph of one time step; the float pass pipeline simplifies it (a
flatten's layout transpose folds into the next Linear's weights); ``quantize_spiking`` makes
it integer on the calibration sequences; the project runs it for T steps.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path

import numpy as np

from firmforge.converter.frontends.torch_context import layout_of
from firmforge.converter.ir import DType, Graph, IRError, Value
from firmforge.converter.layout import Layout
from firmforge.converter.ops.encode import RateEncode
from firmforge.converter.ops.spiking import DecayMode, Lif, Reset
from firmforge.converter.passes import FLOAT_PIPELINE, run_passes
from firmforge.converter.passes.fold_linear import (
    PoolFoldError,
    fold_avg_pool_strict,
    fold_dense_chain,
)

from .project import Readout, SpikingProject
from .quantize import SpikingQuantizationError, quantize_spiking


class Encoder(enum.Enum):
    """How a static input becomes the network's input at each step (None: it is presented as
    it is, a spike train or a direct current)."""

    RATE = "rate"


def with_rate_encoder(g: Graph) -> Graph:
    """``g`` with a RateEncode node between its input and its first layers."""
    g = g.copy()
    old = g.inputs[0]
    x = Value(f"{old.name}.intensity", old.shape, DType.f32)
    enc = RateEncode(name="rate_encode", inputs=[x], outputs=[old],
                     state=[Value("rate_encode.state", (1, 1), DType.s32)])
    enc.check()
    g.nodes.insert(0, enc)
    g.inputs[0] = x
    g.validate()
    return g


def is_spiking(model: object) -> bool:
    """An snnTorch module, a NIR graph, or the path of a ``.nir`` file."""
    if isinstance(model, (str, os.PathLike)):
        return Path(model).suffix.lower() == ".nir"
    if type(model).__module__.startswith("nir"):
        return True
    try:
        import snntorch
        import torch
    except ImportError:  # pragma: no cover - both are dependencies
        return False
    return isinstance(model, torch.nn.Module) and any(
        isinstance(m, snntorch.SpikingNeuron) for m in model.modules())


def convert_spiking(model: object, example_input: object = None, calibration: object = None, *,
                    steps: int | None = None, dt: float | None = None,
                    reset: Reset | None = None, name: str | None = None,
                    membrane: DType = DType.s16, decay: DecayMode | dict | None = None,
                    readout: Readout | None = None, spike_input: bool | None = None,
                    encoder: Encoder | None = None) -> SpikingProject:
    """See ``converter.convert``: ``steps`` T (required); ``calibration`` time-major float
    sequences ``[T, N, ...]`` (read so when its first dimension is ``steps``) or static
    ``[N, ...]`` presented at every step (framework layout); ``membrane`` s16 or s32;
    ``decay`` Q15/SHIFT (per layer by name, or automatic); ``readout`` what the project
    returns; ``spike_input`` whether the input is spikes (default: whether calibration holds
    only 0 and 1); ``encoder`` ``Encoder.RATE`` puts the rate encoder (``ops/encode.py``) in
    front: the input is then static intensities in [0, 1], coded into spikes at every step,
    on device as in the reference. NIR graphs also take ``dt`` (required) and ``reset`` (NIR cannot state
    it)."""
    from firmforge.converter.convert import ConversionError

    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ConversionError(f"a spiking network needs steps=T, a positive integer, "
                              f"got {steps!r}")
    readout = Readout.SPIKES if readout is None else readout
    if not isinstance(readout, Readout):
        raise ConversionError(f"readout must be a Readout, got {readout!r}")
    if calibration is None:
        raise ConversionError("a spiking network needs calibration sequences (membrane "
                              "ranges decide the fixed-point widths)")
    fgraph, layout = _frontend(model, example_input, calibration, steps, dt, reset, name)
    cal = _time_major(calibration, steps, layout, fgraph)
    if readout is Readout.MEMBRANE and _last_fires(fgraph):
        raise ConversionError("Readout.MEMBRANE needs a last layer that does not fire (a "
                              "readout layer); this network's last layer spikes")
    if encoder is Encoder.RATE:
        fgraph = with_rate_encoder(fgraph)
    elif encoder is not None and not isinstance(encoder, Encoder):
        raise ConversionError(f"encoder must be an Encoder, got {encoder!r}")
    try:
        fgraph = fold_dense_chain(fold_avg_pool_strict(run_passes(fgraph, FLOAT_PIPELINE)))
        q = quantize_spiking(fgraph, cal, membrane=membrane, decay=decay,
                             spike_input=spike_input)
    except (SpikingQuantizationError, PoolFoldError, IRError) as e:
        raise ConversionError(str(e)) from e
    out_layout = layout_of(len(q.graph.outputs[0].shape))
    return SpikingProject(fgraph.name, q.graph, fgraph, [layout], [out_layout], steps=steps,
                          readout=readout, decays=q.decays, membrane_peaks=q.membrane_peaks)


def _frontend(model, example_input, calibration, steps, dt, reset, name
              ) -> tuple[Graph, Layout]:
    from firmforge.converter.convert import ConversionError

    if isinstance(model, (str, os.PathLike)) or type(model).__module__.startswith("nir"):
        from .nir_import import import_nir

        if dt is None:
            raise ConversionError("a NIR graph needs dt (the time step in seconds): NIR "
                                  "neurons are continuous-time")
        g = import_nir(model, dt=dt, reset=reset)
        if name:
            g.name = name
        return g, layout_of(len(g.inputs[0].shape))
    from .snntorch_import import SnnTorchImportError, import_snntorch

    example = example_input
    if example is None:  # one sample of the first step (time-major when it has T rows)
        cal = np.asarray(calibration, np.float32)
        example = cal[0, :1] if cal.ndim >= 3 and cal.shape[0] == steps else cal[:1]
    try:
        imp = import_snntorch(model, example, name)
    except SnnTorchImportError as e:
        raise ConversionError(str(e)) from e
    return imp.graph, imp.input_layout


def _time_major(calibration, steps: int, layout: Layout, fgraph: Graph) -> np.ndarray:
    """Calibration in framework layout -> IR layout [T, N, ...]."""
    from firmforge.converter.convert import ConversionError

    cal = np.asarray(calibration.detach().cpu().numpy() if hasattr(calibration, "detach")
                     else calibration, np.float32)
    sample = layout.framework_shape(tuple(fgraph.inputs[0].shape))[1:]
    if cal.shape[1:] == sample:
        cal = np.broadcast_to(cal, (steps, *cal.shape))
    if cal.ndim != len(sample) + 2 or cal.shape[2:] != sample:
        raise ConversionError(f"calibration must be [T, N, {', '.join(map(str, sample))}] or "
                              f"static [N, ...], got {list(cal.shape)}")
    if not np.all(np.isfinite(cal)):
        raise ConversionError("calibration contains NaN or Inf")
    t, n = cal.shape[:2]
    ir = layout.to_ir(np.ascontiguousarray(cal).reshape(t * n, *sample))
    return ir.reshape(t, n, *ir.shape[1:])


def _last_fires(g: Graph) -> bool:
    p = g.producer(g.outputs[0])
    return not isinstance(p, Lif) or p.fires
