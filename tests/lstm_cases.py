"""Random LSTM configurations as one-operator .tflite models and as reference parameters.

``LstmCase`` holds everything of one UNIDIRECTIONAL_SEQUENCE_LSTM: sizes, layout, integer
weights and the float32 scales; ``random_case`` draws one (scales chosen so that, across cases,
gate pre-activations range from nearly linear to saturated, and the cell clip from inactive to
biting), ``tflite_model`` writes it as a model for the TFLM harness, ``reference_params`` gives
what ``converter/ops/lstm.py`` needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmforge.converter.ir import DType, Graph, QuantParams, Value, const
from firmforge.converter.ops import lstm

from tflm_harness import BuiltinOperator, TensorSpec, build_model, schema


@dataclass
class LstmCase:
    dtype: DType                  # activations: s8 or s16
    batch: int
    steps: int
    inputs: int
    units: int
    time_major: bool
    x_q: tuple[float, int]
    h_q: tuple[float, int]
    s_c: float
    cell_clip: float
    w_scales: np.ndarray          # (8,) float32: 4 input then 4 recurrent weight scales
    weights: lstm.LstmWeights

    @property
    def x_shape(self) -> tuple[int, int, int]:
        if self.time_major:
            return (self.steps, self.batch, self.inputs)
        return (self.batch, self.steps, self.inputs)

    @property
    def y_shape(self) -> tuple[int, int, int]:
        return (*self.x_shape[:2], self.units)

    def random_input(self, rng: np.random.Generator) -> np.ndarray:
        d = self.dtype
        return rng.integers(d.qmin, d.qmax + 1, self.x_shape).astype(d.np)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A float32 value (as a .tflite file stores scales), log-uniform in [lo, hi]."""
    return float(np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


def random_case(rng: np.random.Generator, dtype: DType, *, units: int | None = None,
                inputs: int | None = None, steps: int | None = None, batch: int | None = None,
                time_major: bool | None = None) -> LstmCase:
    s16 = dtype is DType.s16
    units = units or int(rng.integers(1, 17))
    inputs = inputs or int(rng.integers(1, 20))
    steps = steps or int(rng.integers(1, 5))
    batch = batch or int(rng.integers(1, 3))
    time_major = bool(rng.integers(2)) if time_major is None else time_major
    if s16:
        x_q = (_log_uniform(rng, 2e-5, 5e-4), 0)
        h_q = (_log_uniform(rng, 1.5e-5, 6e-5), 0)
    else:
        x_q = (_log_uniform(rng, 0.004, 0.1), int(rng.integers(-30, 31)))
        h_q = (_log_uniform(rng, 0.004, 0.02), int(rng.integers(-8, 9)))
    x_span = (dtype.qmax - dtype.qmin) / 2
    # gain ~ typical |pre-activation|: below 1 the gates stay near-linear, above 8 the Q3.12
    # pre-activation saturates.
    scales = []
    for k in range(8):
        s_in, depth = (x_q[0], inputs) if k < 4 else (h_q[0], units)
        gain = _log_uniform(rng, 0.1, 30.0)
        scales.append(gain / (s_in * x_span * 64 * np.sqrt(depth)))
    w_scales = np.array(scales, np.float32)
    w_x = rng.integers(-127, 128, (4, units, inputs)).astype(np.int8)
    w_h = rng.integers(-127, 128, (4, units, units)).astype(np.int8)
    bias_scale = np.float64(x_q[0]) * w_scales[:4].astype(np.float64)
    bias_real = rng.normal(0.0, rng.uniform(0.1, 4.0), (4, units))
    bias = np.round(bias_real / bias_scale[:, None]).astype(np.int64 if s16 else np.int32)
    p = int(rng.integers(9, 16))
    s_c = 2.0 ** -p
    if rng.random() < 0.2:
        s_c *= float(rng.uniform(0.8, 1.25))  # TFLM rounds log2 of a non-power-of-two scale
    # no clip, a clip that rarely bites, one that does, one below a cell step (clamps c to 0)
    cell_clip = float(rng.choice([0.0, 10.0, float(rng.uniform(0.2, 3.0)), s_c / 2]))
    weights = lstm.LstmWeights(w_x, w_h, bias)
    return LstmCase(dtype, batch, steps, inputs, units, time_major, x_q, h_q,
                    float(np.float32(s_c)), cell_clip, w_scales, weights)


def reference_params(case: LstmCase) -> lstm.LstmQuant:
    return lstm.prepare_params(case.dtype, case.x_q, case.w_scales, case.h_q, case.s_c, case.cell_clip)


def tflite_model(case: LstmCase, *, activation: int = schema.ActivationFunctionType.TANH,
                 extra: dict[int, TensorSpec] | None = None) -> bytes:
    """The case as a one-operator model: inputs 0..23 as TFLite numbers them (omitted
    optionals -1), state tensors 18/19 variable; ``extra`` fills optional slots (to check that
    TFLM refuses them)."""
    d = case.dtype
    w = case.weights
    bias_t = np.int64 if d is DType.s16 else np.int32
    ins: list[TensorSpec | None] = [None] * 24
    ins[0] = TensorSpec(case.x_shape, d.np, case.x_q[0], case.x_q[1], name="x")
    for k in range(4):
        ins[1 + k] = TensorSpec(w.w_x[k].shape, np.int8, case.w_scales[k], 0, data=w.w_x[k],
                                name=f"w_x_{lstm.GATES[k]}")
        ins[5 + k] = TensorSpec(w.w_h[k].shape, np.int8, case.w_scales[4 + k], 0,
                                data=w.w_h[k], name=f"w_h_{lstm.GATES[k]}")
        b_scale = float(np.float32(case.x_q[0]) * case.w_scales[k])
        ins[12 + k] = TensorSpec(w.bias[k].shape, bias_t, b_scale, 0,
                                 data=w.bias[k].astype(bias_t), name=f"b_{lstm.GATES[k]}")
    ins[18] = TensorSpec((case.batch, case.units), d.np, case.h_q[0], case.h_q[1],
                         variable=True, name="h")
    ins[19] = TensorSpec((case.batch, case.units), np.int16, case.s_c, 0, variable=True, name="c")
    for k, spec in (extra or {}).items():
        ins[k] = spec
    out = TensorSpec(case.y_shape, d.np, case.h_q[0], case.h_q[1], name="y")
    opts = schema.UnidirectionalSequenceLSTMOptionsT()
    opts.fusedActivationFunction = activation
    opts.cellClip = case.cell_clip
    opts.projClip = 0.0
    opts.timeMajor = case.time_major
    return build_model(BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM, opts, ins, [out])


def ir_case(rng: np.random.Generator, dtype: DType, **sizes: int) -> LstmCase:
    """A case whose input has the IR's leading dimension 1: batch-major with batch 1, or
    time-major with one step (then the batch sits in dimension 1)."""
    time_major = bool(rng.integers(2))
    if time_major:
        sizes["steps"] = 1
    else:
        sizes["batch"] = 1
    return random_case(rng, dtype, time_major=time_major, **sizes)


def lstm_graph(case: LstmCase, name: str = "lstm") -> Graph:
    """The case as a firmforge graph of one Lstm node (state values h and c)."""
    d = case.dtype
    w = case.weights
    axis0 = dict(axis=0)
    x = Value("x", case.x_shape, d, QuantParams.per_tensor(*case.x_q))
    w_x = const("w_x", w.w_x, DType.s8, QuantParams(case.w_scales[:4], np.zeros(4), **axis0))
    w_h = const("w_h", w.w_h, DType.s8, QuantParams(case.w_scales[4:], np.zeros(4), **axis0))
    b = const("b", w.bias, DType.s64 if d is DType.s16 else DType.s32)
    h = Value("h", (case.batch, case.units), d, QuantParams.per_tensor(*case.h_q))
    c = Value("c", (case.batch, case.units), DType.s16, QuantParams.per_tensor(case.s_c, 0))
    node = lstm.Lstm(name=name, inputs=[x, w_x, w_h, b], outputs=[], state=[h, c],
                     cell_clip=case.cell_clip, time_major=case.time_major)
    (shape, dtype), = node.infer()
    node.outputs = [Value("y", shape, dtype, QuantParams.per_tensor(*case.h_q))]
    return Graph(name, [node], [x], node.outputs)
