"""Fixed-point spiking networks: a float spiking graph of one time step -> its integer twin.

Each neuron layer (``Lif``) reads a current made by one synaptic layer (Dense or Conv2d),
possibly through max pools and reshapes. The integer layer works in units of a membrane scale
per neuron (channel) ``s[o] = s_x * s_w[o]``: the synaptic sum of int8 weights ``w_q = w / s_w``
over the input's integers (spikes: 0/1, s_x = 1; a direct input: int8, its calibrated scale) is
then already the current, never requantized (``ops/synapse.py``), and

    threshold_q[o] = round(thr[o] / s[o])        w_rec_q[o, j] = round(W_rec[o, j] / s[o])
    bias_q[o]      = round(b[o] / s[o])

The membrane's units are 2^k times finer than one weight step (``_fine_shift``: the current
is the synaptic sum times 2^k), so that the threshold and the decay's rounding are fine; the
weight scale is the smallest that fits every int8 weight of row o, feed-forward and
recurrent, and keeps the threshold within a quarter of the membrane's range R:
``s_w[o] = max(max|w[o]| / 127, max|W_rec[o]| / (127 s_x), thr[o] / (s_x R / 4))``. Max pooling commutes
with a positive per-channel scale, so it pools the s32 current exactly.

Decay factors: ``DecayMode.Q15`` stores round(beta * 2^15) (error at most 2^-16 per factor);
``DecayMode.SHIFT`` stores k with beta ~ 1 - 2^-k (one k per layer; exact only for such
betas). With ``decay=None`` a layer whose single beta (and alpha) a shift hits as closely as
Q15 does gets the shift (one subtraction instead of a multiply), any other Q15. Each layer's
decay error is reported (``QuantizedSnn.decay_errors``).

Membranes are s16 or s32 (``membrane=``). The integer graph is run on the calibration
sequences; a membrane or synaptic current that leaves the chosen width there is a
``SpikingQuantizationError`` naming the layer (the kernels would saturate it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmforge.converter.ir import DType, Graph, IRError, Node, QuantParams, Value, const
from firmforge.converter.ops.conv import Conv2d
from firmforge.converter.ops.dense import Dense
from firmforge.converter.ops.encode import LEVELS, RateEncode
from firmforge.converter.ops.pool import MaxPool2d
from firmforge.converter.ops.shape import Reshape
from firmforge.converter.ops.spiking import Q15_ONE, DecayMode, Lif
from firmforge.converter.ops.synapse import MAX_SHIFT, Conv2dCurrent, DenseCurrent

WEIGHT_MAX = 127


class SpikingQuantizationError(ValueError):
    """The spiking graph cannot be made integer as asked; the message names the layer."""


@dataclass(frozen=True)
class DecayChoice:
    layer: str
    mode: DecayMode
    error: float          # max |beta - stored factor| (alpha's included for synaptic layers)
    q15_error: float
    shift_error: float | None


@dataclass
class QuantizedSnn:
    graph: Graph
    decays: list[DecayChoice]
    membrane_peaks: dict[str, int]   # largest |membrane| (and |syn|) per layer on calibration


def quantize_spiking(fgraph: Graph, calibration: np.ndarray, *, membrane: DType = DType.s16,
                     decay: DecayMode | dict[str, DecayMode] | None = None,
                     spike_input: bool | None = None) -> QuantizedSnn:
    """The integer graph of ``fgraph`` (one step, float). ``calibration`` is time-major
    ``[T, N, ...]`` in the IR layout; ``spike_input`` says whether the graph input is spikes
    (u1), default: whether every calibration value is 0 or 1 (else an int8 direct input)."""
    if membrane not in (DType.s16, DType.s32):
        raise SpikingQuantizationError(f"membranes are s16 or s32, not {membrane.value}")
    if len(fgraph.inputs) != 1:
        raise SpikingQuantizationError("a spiking graph takes one input")
    cal = np.asarray(calibration, np.float32)
    if cal.ndim != len(fgraph.inputs[0].shape) + 1 or cal.shape[2:] != fgraph.inputs[0].shape[1:]:
        raise SpikingQuantizationError(
            f"calibration must be time-major [T, N, {', '.join(map(str, fgraph.inputs[0].shape[1:]))}]"
            f", got {list(cal.shape)}")
    if spike_input is None:
        spike_input = bool(np.all((cal == 0) | (cal == 1)))
    if fgraph.nodes and isinstance(fgraph.nodes[0], RateEncode):
        if cal.min() < 0 or cal.max() > 1:
            raise SpikingQuantizationError("rate coding reads intensities in [0, 1]; the "
                                           f"calibration spans [{cal.min():g}, {cal.max():g}]")
        spike_input = False
    g = _integer_graph(fgraph, cal, membrane, decay, spike_input)
    peaks = _check_membranes(g.graph, g.inputs(cal), membrane)
    g.result.membrane_peaks.update(peaks)
    return g.result


@dataclass
class _Built:
    graph: Graph
    result: QuantizedSnn
    input_quant: QuantParams | None

    def inputs(self, cal: np.ndarray) -> np.ndarray:
        if self.input_quant is None:
            return cal.astype(np.uint8)
        return self.input_quant.quantize(cal, DType.s8)


def _input_value(v: Value, cal: np.ndarray, spike_input: bool, encoded: bool
                 ) -> tuple[Value, QuantParams | None]:
    if encoded:  # the rate encoder's levels: x_q + 128 = round(255 u)
        q = QuantParams.per_tensor(np.float32(1 / LEVELS), -128)
        return Value(v.name, v.shape, DType.s8, q), q
    if spike_input:
        if not np.all((cal == 0) | (cal == 1)):
            raise SpikingQuantizationError(f"input {v.name} is declared spikes, but calibration "
                                           "holds values other than 0 and 1")
        return Value(v.name, v.shape, DType.u1), None
    lo, hi = min(float(cal.min()), 0.0), max(float(cal.max()), 0.0)
    scale = max(hi - lo, 1e-8) / 255.0
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    q = QuantParams.per_tensor(np.float32(scale), zp)
    return Value(v.name, v.shape, DType.s8, q), q


def _integer_graph(fg: Graph, cal: np.ndarray, membrane: DType, decay, spike_input: bool
                   ) -> _Built:
    encoded = bool(fg.nodes) and isinstance(fg.nodes[0], RateEncode)
    x, in_q = _input_value(fg.inputs[0], cal, spike_input, encoded)
    vmap: dict[int, Value] = {id(fg.inputs[0]): x}
    scale_of: dict[int, np.ndarray] = {}  # float current value -> its per-channel scale
    g = Graph(fg.name, [], [x], [])
    decays: list[DecayChoice] = []
    lif_of_current = _neuron_of_current(fg)
    peaks = float_peaks(fg, cal)
    for node in fg.nodes:
        ins = [vmap.get(id(v), v) for v in node.inputs]
        if isinstance(node, (Dense, Conv2d)) and type(node) in (Dense, Conv2d):
            lif = lif_of_current.get(id(node.y))
            if lif is None:
                raise SpikingQuantizationError(f"{node.name}: a synaptic layer must feed a "
                                               "neuron layer (through pools and reshapes only)")
            new, scales = _synapse(node, ins[0], lif, membrane, peaks)
            scale_of[id(node.y)] = scales
        elif isinstance(node, MaxPool2d) and id(node.x) in scale_of:
            new = _rebuild(node, ins[:1], DType.s32)
            scale_of[id(node.y)] = scale_of[id(node.x)]
        elif isinstance(node, Reshape):
            new = _rebuild(node, ins, ins[0].dtype)
            if id(node.x) in scale_of:
                scale_of[id(node.y)] = scale_of[id(node.x)]
        elif isinstance(node, RateEncode):
            new = RateEncode(name=node.name, inputs=ins, outputs=[Value(node.y.name, node.y.shape,
                                                                        DType.u1)],
                             state=[Value(node.state[0].name, (1, 1), DType.s32)])
            new.check()
        elif isinstance(node, Lif):
            new, choice = _neuron(node, ins[0], scale_of[id(node.current)], membrane,
                                  decay if not isinstance(decay, dict) else decay.get(node.name))
            decays.append(choice)
        else:
            raise SpikingQuantizationError(f"{node.name}: {node.kind} has no integer spiking "
                                           "form (synaptic Dense/Conv2d, max pools, reshapes "
                                           "and Lif neurons do)")
        g.nodes.append(new)
        for a, b in zip(node.outputs, new.outputs, strict=True):
            vmap[id(a)] = b
    g.outputs = [vmap[id(v)] for v in fg.outputs]
    try:
        g.validate()
    except IRError as e:
        raise SpikingQuantizationError(str(e)) from e
    return _Built(g, QuantizedSnn(g, decays, {}), in_q)


def _neuron_of_current(fg: Graph) -> dict[int, Lif]:
    """Each synaptic layer's output value -> the Lif that reads it (through pools/reshapes)."""
    found: dict[int, Lif] = {}
    for node in fg.nodes:
        if not isinstance(node, Lif):
            continue
        v = node.current
        p = fg.producer(v)
        while isinstance(p, (MaxPool2d, Reshape)):
            v = p.x
            p = fg.producer(v)
        if isinstance(p, (Dense, Conv2d)):
            found[id(p.y)] = node
    return found


def _rebuild(node: Node, ins: list[Value], dtype: DType) -> Node:
    new = type(node)(name=node.name, inputs=ins, outputs=[], **node.attrs)
    (shape, dt), = new.infer()
    new.outputs = [Value(node.y.name, shape, dt)]
    return new


def _param(v: Value, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(v.data, np.float64).reshape(-1), (n,))


def _synapse(node: Node, x: Value, lif: Lif, membrane: DType, peaks: dict[str, float]
             ) -> tuple[Node, np.ndarray]:
    w = np.asarray(node.inputs[1].data, np.float64)
    b = np.asarray(node.inputs[2].data, np.float64)
    rows = w.reshape(w.shape[0], -1)
    s_x = 1.0 if x.dtype is DType.u1 else float(x.quant.scale[0])
    need = np.abs(rows).max(axis=1) / WEIGHT_MAX
    if lif.recurrent:
        need = np.maximum(need, np.abs(np.asarray(lif.w_rec.data, np.float64)).max(axis=1)
                          / (WEIGHT_MAX * s_x))
    # the threshold must leave the membrane room: at most a quarter of its range (a fine
    # direct-input scale would otherwise put it out of an s16 membrane's reach)
    need = np.maximum(need, _param(lif.threshold, len(need)) / (s_x * (membrane.qmax // 4)))
    s_w = np.where(need > 0, need, 1.0).astype(np.float32).astype(np.float64)
    shape = (-1,) + (1,) * (w.ndim - 1)
    wq = np.clip(np.rint(w / s_w.reshape(shape)), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    shift = _fine_shift(lif, wq, s_x * s_w, 1 if x.dtype is DType.u1 else 255, membrane,
                        peaks.get(lif.name, 0.0))
    scale = s_x * s_w / (1 << shift)
    bq = np.rint(b / scale)
    if np.any(np.abs(bq) > (1 << 30)):
        raise SpikingQuantizationError(f"{node.name}: the bias is beyond 2^30 membrane units")
    wv = Value(f"{node.inputs[1].name}.q", w.shape, DType.s8,
               QuantParams(s_w.astype(np.float32), np.zeros(len(s_w), np.int64), 0), wq)
    bv = const(f"{node.inputs[2].name}.q", bq.astype(np.int32), DType.s32)
    cls = DenseCurrent if isinstance(node, Dense) else Conv2dCurrent
    attrs = {k: v for k, v in node.attrs.items() if k != "act"}
    new = cls(name=node.name, inputs=[x, wv, bv], outputs=[], shift=shift, **attrs)
    (out_shape, dt), = new.infer()
    new.outputs = [Value(node.y.name, out_shape, dt)]
    return new, scale


def float_peaks(fg: Graph, cal: np.ndarray) -> dict[str, float]:
    """The largest |membrane| (or |synaptic current|) of each Lif of the float graph over the
    calibration sequences [T, N, ...], every sequence from reset (one state row each)."""
    from .project import batched_steps_with_state

    peaks: dict[str, float] = {}
    owners = {s.name: n.name for n in fg.nodes if isinstance(n, Lif) for s in n.state}
    for _, state in batched_steps_with_state(fg, cal):
        for name, a in state.items():
            if name in owners:
                peaks[owners[name]] = max(peaks.get(owners[name], 0.0), float(np.abs(a).max()))
    return peaks


def _fine_shift(lif: Lif, wq: np.ndarray, coarse: np.ndarray, span: int,
                membrane: DType, peak: float) -> int:
    """The k of membrane units 2^k times finer than one weight step: the most that keeps the
    threshold within a quarter of the membrane's range and the largest current in int32. One
    weight step per unit would leave a threshold of a few dozen units, and the decay's
    rounding (half a unit a step) a visible error. Recurrent layers keep k = 0: their int8
    recurrent weights are in membrane units."""
    if lif.recurrent:
        return 0
    thr = float(np.max(_param(lif.threshold, len(coarse)) / coarse))
    top = peak / float(np.min(coarse))  # the calibration's largest membrane, coarse units
    worst = float(np.abs(wq.astype(np.int64)).reshape(len(wq), -1).sum(axis=1).max()) * span
    k = 0
    while (k < MAX_SHIFT and thr * 2 ** (k + 1) <= membrane.qmax // 4
           and top * 2 ** (k + 1) <= membrane.qmax // 2
           and worst * 2 ** (k + 1) * 2 < 2 ** 31):
        k += 1
    return k


def _decay_choice(name: str, factors: list[np.ndarray], want: DecayMode | None
                  ) -> tuple[DecayChoice, list[np.ndarray]]:
    """The stored factor of each of ``factors`` (beta, then alpha) and the layer's choice."""
    q15 = [np.rint(f * Q15_ONE) for f in factors]
    q15_err = max(float(np.abs(f - q / Q15_ONE).max()) for f, q in zip(factors, q15, strict=True))
    shift_err, ks = None, None
    if all(np.ptp(f) == 0 and 0 < f[0] < 1 for f in factors):
        ks = [int(np.clip(round(-np.log2(1 - f[0])), 1, 30)) for f in factors]
        shift_err = max(abs(float(f[0]) - (1 - 2.0 ** -k)) for f, k in zip(factors, ks, strict=True))
    mode = want
    if mode is None:
        mode = DecayMode.SHIFT if shift_err is not None and shift_err <= q15_err else DecayMode.Q15
    if mode is DecayMode.SHIFT and ks is None:
        raise SpikingQuantizationError(f"{name}: a shift decay needs one beta (and alpha) in "
                                       "(0, 1) for the whole layer")
    if mode is DecayMode.SHIFT:
        return DecayChoice(name, mode, shift_err, q15_err, shift_err), \
            [np.array([k], np.int32) for k in ks]
    return DecayChoice(name, mode, q15_err, q15_err, shift_err), \
        [q.astype(np.int32) for q in q15]


def _neuron(node: Lif, current: Value, scale: np.ndarray, membrane: DType,
            want: DecayMode | None) -> tuple[Lif, DecayChoice]:
    n = node.neurons
    beta = np.asarray(node.beta.data, np.float64).reshape(-1)
    factors = [beta] + ([np.asarray(node.alpha.data, np.float64).reshape(-1)]
                        if node.synaptic else [])
    choice, stored = _decay_choice(node.name, factors, want)
    thr = _param(node.threshold, n) / scale
    if np.any(thr > membrane.qmax // 2):
        raise SpikingQuantizationError(
            f"{node.name}: the threshold is {thr.max():.0f} membrane units, beyond half the "
            f"{membrane.value} range: use membrane=s32")
    ins = [current, const(f"{node.beta.name}.q", stored[0], DType.s32),
           const(f"{node.threshold.name}.q", np.rint(thr).astype(np.int32), DType.s32)]
    if node.synaptic:
        ins.append(const(f"{node.alpha.name}.q", stored[1], DType.s32))
    if node.recurrent:
        wr = np.asarray(node.w_rec.data, np.float64) / scale[:, None]
        ins.append(const(f"{node.w_rec.name}.q",
                         np.clip(np.rint(wr), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8), DType.s8))
    states = [Value(s.name, s.shape, membrane) for s in node.state]
    out_dt = DType.u1 if node.fires else membrane
    new = Lif(name=node.name, inputs=ins, outputs=[Value(node.y.name, node.y.shape, out_dt)],
              state=states, reset=node.reset, synaptic=node.synaptic, recurrent=node.recurrent,
              fires=node.fires, decay_mode=choice.mode)
    new.check()
    return new, choice


def _check_membranes(g: Graph, xs: np.ndarray, membrane: DType) -> dict[str, int]:
    """Run every calibration sequence through ``g`` from the reset state; the largest |state|
    of each layer, and an error where it reaches the chosen width (the kernels saturate)."""
    from .project import batched_steps_with_state

    peaks = {n.name: 0 for n in g.nodes if isinstance(n, Lif)}
    owners = {s.name: n.name for n in g.nodes if isinstance(n, Lif) for s in n.state}
    for _, state in batched_steps_with_state(g, xs):
        for name, a in state.items():
            if name in owners:  # not an encoder's generator state
                layer = owners[name]
                peaks[layer] = max(peaks[layer], int(np.abs(a.astype(np.int64)).max()))
    for layer, peak in peaks.items():
        if peak >= membrane.qmax:
            raise SpikingQuantizationError(
                f"{layer}: the membrane reaches {peak} on the calibration data, the limit of "
                f"{membrane.value}" + (": use membrane=s32" if membrane is DType.s16 else ""))
    return peaks

