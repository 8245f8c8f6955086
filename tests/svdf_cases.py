"""Random SVDF configurations as one-operator .tflite models and as reference parameters.

``SvdfCase`` holds everything of one SVDF: sizes, integer weights, zero points and the float32
scales; ``random_case`` draws one (scales chosen so that, across cases, the feature projections
range from small to clamped at the state type's limits and the outputs from small to clamped at
int8's), ``tflite_model`` writes it as a model for the TFLM harness, ``svdf_node`` and
``svdf_graph`` make it an Svdf node and a graph, ``reference_calls`` runs that node call after
call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from firmforge.converter.ir import Act, DType, Graph, QuantParams, Value, const
from firmforge.converter.ops import svdf

from tflm_harness import BuiltinOperator, TensorSpec, build_model, schema

ACT_OF_CODE = {0: Act.NONE, 1: Act.RELU, 2: Act.RELU_N1_TO_1, 3: Act.RELU6}  # TFLite's codes


@dataclass
class SvdfCase:
    state_dtype: DType            # s16 (int16 time weights and state) or s8
    batch: int
    inputs: int
    units: int
    rank: int
    memory: int
    x_q: tuple[float, int]
    s_wf: float
    state_q: tuple[float, int]
    s_wt: float
    y_q: tuple[float, int]
    w_feature: np.ndarray         # (F, I) int8
    w_time: np.ndarray            # (F, M) int16 / int8
    bias: np.ndarray | None       # (U,) int32
    bias_scale: float = field(default=0.0)
    act: int = 0                  # TFLite's fused activation code (TFLM's int8 kernel ignores it)

    @property
    def filters(self) -> int:
        return self.units * self.rank

    @property
    def state_shape(self) -> tuple[int, int]:
        return (self.batch, self.filters * self.memory)

    def random_input(self, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(-128, 128, (self.batch, self.inputs)).astype(np.int8)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A float32 value (as a .tflite file stores scales), log-uniform in [lo, hi]."""
    return float(np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


def random_case(rng: np.random.Generator, state_dtype: DType, *, batch: int | None = None,
                inputs: int | None = None, units: int | None = None, rank: int | None = None,
                memory: int | None = None, act: int | None = None, with_bias: bool = True,
                reach: float | None = None) -> SvdfCase:
    """A random case; without ``with_bias`` it has no bias, which TFLM's int8 SVDF cannot run
    (its Prepare reads the bias's scale unconditionally). ``reach`` is the typical size of a
    feature projection in state steps (drawn when None)."""
    s16 = state_dtype is DType.s16
    batch = batch or int(rng.integers(1, 4))
    inputs = inputs or int(rng.integers(1, 40))
    units = units or int(rng.integers(1, 12))
    rank = rank or int(rng.choice([1, 1, 2, 3]))
    memory = memory or int(rng.integers(1, 12))
    f = units * rank
    x_q = (_log_uniform(rng, 0.005, 0.1), int(rng.integers(-128, 128)))
    s_wf = _log_uniform(rng, 0.002, 0.02)
    w_feature = rng.integers(-127, 128, (f, inputs)).astype(np.int8)
    # typical |feature projection| in state steps: from small to beyond the state's range
    if reach is None:
        reach = _log_uniform(rng, 20, 3e5) if s16 else _log_uniform(rng, 2, 1000)
    s_s = float(np.float32(x_q[0] * s_wf * 74 * 74 * np.sqrt(inputs) / reach))
    if s16:
        zp_s = int(rng.integers(-300, 301)) if rng.random() < 0.25 else 0
        w_max = int(rng.choice([300, 3000, 32767]))
    else:
        zp_s = int(rng.integers(-60, 61))
        w_max = 127
    w_time = rng.integers(-w_max, w_max + 1, (f, memory)).astype(state_dtype.np)
    s_wt = _log_uniform(rng, 1e-4, 1e-2) if s16 else _log_uniform(rng, 2e-3, 2e-2)
    state_span = min(reach, 32767.0 if s16 else 127.0)
    o_spread = w_max * 0.58 * state_span * 0.6 * np.sqrt(memory * rank)
    # output in int8 steps: from well inside the range to clamped
    out_reach = _log_uniform(rng, 3, 600)
    s_y = float(np.float32(s_s * s_wt * o_spread / out_reach))
    bias_scale = float(np.float32(s_s) * np.float32(s_wt))
    bias = None
    if with_bias:
        bias = rng.normal(0, o_spread * rng.uniform(0.1, 2.0), units)
        bias = np.clip(np.round(bias), -(1 << 30), 1 << 30).astype(np.int32)
    act = int(rng.integers(4)) if act is None else act
    return SvdfCase(state_dtype, batch, inputs, units, rank, memory, x_q, s_wf, (s_s, zp_s),
                    s_wt, (s_y, int(rng.integers(-128, 128))), w_feature, w_time, bias,
                    bias_scale, act)


def reference_calls(case: SvdfCase, xs: list[np.ndarray], reset_at: int | None = None,
                    act: Act = Act.NONE) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The Svdf op (``svdf_node``) over consecutive calls from its initial state, reset before
    call ``reset_at``: (outputs, the state after each call)."""
    node = svdf_node(case, act=act)
    consts = [v.data for v in node.inputs[1:]]
    ys, states = [], []
    (state,) = node.initial_state()
    for k, x in enumerate(xs):
        if k == reset_at:
            (state,) = node.initial_state()
        (y,), (state,) = node.ref([x, *consts], [state])
        ys.append(y)
        states.append(state)
    return ys, states


def tflite_model(case: SvdfCase, *, bias_scale: float | None = None,
                 omit_bias: bool = False) -> bytes:
    """The case as a one-operator model: inputs x, weights_feature, weights_time, bias
    (omitted when the case has none or ``omit_bias``), the variable state."""
    f = case.filters
    ins: list[TensorSpec | None] = [
        TensorSpec((case.batch, case.inputs), np.int8, *case.x_q, name="x"),
        TensorSpec((f, case.inputs), np.int8, case.s_wf, 0, data=case.w_feature, name="w_f"),
        TensorSpec((f, case.memory), case.state_dtype.np, case.s_wt, 0, data=case.w_time,
                   name="w_t"),
        None,
        TensorSpec(case.state_shape, case.state_dtype.np, *case.state_q, variable=True,
                   name="state"),
    ]
    if case.bias is not None and not omit_bias:
        scale = case.bias_scale if bias_scale is None else bias_scale
        ins[3] = TensorSpec((case.units,), np.int32, scale, 0, data=case.bias, name="b")
    out = TensorSpec((case.batch, case.units), np.int8, *case.y_q, name="y")
    opts = schema.SVDFOptionsT()
    opts.rank = case.rank
    opts.fusedActivationFunction = case.act
    opts.asymmetricQuantizeInputs = False
    return build_model(BuiltinOperator.SVDF, opts, ins, [out])


def svdf_node(case: SvdfCase, name: str = "svdf", act: Act = Act.NONE) -> svdf.Svdf:
    """The case as one Svdf node (any batch) with state value ``state``."""
    x = Value("x", (case.batch, case.inputs), DType.s8, QuantParams.per_tensor(*case.x_q))
    w_f = const("w_feature", case.w_feature, DType.s8, QuantParams.per_tensor(case.s_wf, 0))
    w_t = const("w_time", case.w_time, case.state_dtype, QuantParams.per_tensor(case.s_wt, 0))
    ins = [x, w_f, w_t]
    if case.bias is not None:
        ins.append(const("bias", case.bias, DType.s32,
                         QuantParams.per_tensor(case.bias_scale, 0)))
    s = Value("state", case.state_shape, case.state_dtype, QuantParams.per_tensor(*case.state_q))
    node = svdf.Svdf(name=name, inputs=ins, outputs=[], state=[s], rank=case.rank, act=act)
    (shape, dtype), = node.infer()
    node.outputs = [Value("y", shape, dtype, QuantParams.per_tensor(*case.y_q))]
    return node


def svdf_graph(case: SvdfCase, name: str = "svdf", act: Act = Act.NONE) -> Graph:
    """The case (batch 1, the IR's) as a firmforge graph of one Svdf node."""
    assert case.batch == 1
    node = svdf_node(case, name, act)
    return Graph(name, [node], [node.inputs[0]], node.outputs)
