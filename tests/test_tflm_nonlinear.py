"""int8 LOGISTIC, TANH and SOFTMAX: firmforge's reference == TensorFlow Lite Micro, byte for byte.

Each case is one firmforge node and the same operator as a one-op .tflite model (tflm_harness),
run on the same inputs. Logistic and tanh see every int8 value at many input scales; softmax sees
random rows of 1..300 elements (and longer ones) with various betas and input spreads.
"""

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.converter.ir import DType, IRError, QuantParams, Value, make_node
from firmforge.converter.ops.nonlinear import Sigmoid, Softmax, Tanh

from cases import single
from tflm_harness import BuiltinOperator, TensorSpec, TFLMRefused, run_op, schema

ACTS = [(Sigmoid, BuiltinOperator.LOGISTIC, QuantParams.per_tensor(1 / 256, -128)),
        (Tanh, BuiltinOperator.TANH, QuantParams.per_tensor(1 / 128, 0))]
SOFTMAX_OUT = QuantParams.per_tensor(1 / 256, -128)
ALL_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)


def _tflm(g, op: int, options, xs: np.ndarray) -> np.ndarray:
    node = g.nodes[0]
    return run_op(op, options, [TensorSpec.of(node.x)], [TensorSpec.of(node.y)], [xs])[0]


def _compare(g, op: int, options, xs: np.ndarray, what: str) -> None:
    want = _tflm(g, op, options, xs)
    got = reference.run(g, [xs])[0][0]
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)
        at = tuple(bad[0])
        raise AssertionError(f"{what}: {len(bad)} of {got.size} differ, first at {at} (x = "
                             f"{xs[at]}): ours {got[at]} != TFLM {want[at]}; "
                             f"params {g.nodes[0].requant()}")


def _softmax_options(beta: float):
    o = schema.SoftmaxOptionsT()
    o.beta = beta
    return o


@pytest.mark.parametrize("cls, op, out_q", ACTS, ids=["logistic", "tanh"])
def test_activation_every_int8_input(cls, op, out_q):
    """All 256 inputs at 120 log-spaced scales (1e-4 .. 20), random zero points, plus powers of
    two and the scales where the saturation radius reaches 0."""
    rng = np.random.default_rng(11 if cls is Sigmoid else 12)
    scales = [*np.exp(np.linspace(np.log(1e-4), np.log(20.0), 120)),
              *(2.0 ** np.arange(-14, 5)), 0.0078125 * 1.5, 7.99, 8.0, 8.01, 15.9]
    for s in scales:
        zp = int(rng.integers(-128, 128))
        g = single(cls, "act", [Value("x", (1, 256), DType.s8,
                                      QuantParams.per_tensor(float(s), zp))], out_q)
        _compare(g, op, None, ALL_INT8, f"{cls.__name__} scale {s:.6g} zp {zp}")


def _softmax_graph(rng, shape: tuple[int, ...], scale: float, beta: float):
    x = Value("x", shape, DType.s8, QuantParams.per_tensor(scale, int(rng.integers(-128, 128))))
    return single(Softmax, "softmax", [x], SOFTMAX_OUT, beta=beta)


def _beta(rng) -> float:
    return float(np.float32(rng.choice([1.0, 1.0, 0.5, 2.0, float(rng.uniform(0.05, 10.0))])))


def test_softmax_random_rows():
    """400 random cases: scale 1e-4 .. 20 log-uniform, beta, row length 1 .. 300, 1-3 leading
    dimensions, inputs uniform over int8 or crowded within a few steps of the row maximum."""
    rng = np.random.default_rng(21)
    done = 0
    while done < 400:
        scale = float(np.exp(rng.uniform(np.log(1e-4), np.log(20.0))))
        beta = _beta(rng)
        # TFLM aborts the process on such a model; test_kernels_nonlinear checks we refuse it
        if beta * scale * 2 ** 26 <= 1:
            continue
        depth = int(rng.integers(1, 301))
        lead = [(1,), (1, int(rng.integers(1, 4))), (1, 2, int(rng.integers(1, 3)))][
            rng.integers(3)]
        g = _softmax_graph(rng, (*lead, depth), scale, beta)
        shape = (3, *lead[1:], depth)
        if rng.random() < 0.5:
            xs = rng.integers(-128, 128, shape).astype(np.int8)
        else:
            top = int(rng.integers(-128, 128))
            spread = int(rng.choice([1, 2, 5, 20, 80]))
            xs = np.clip(top - rng.integers(0, spread, shape), -128, 127).astype(np.int8)
        _compare(g, BuiltinOperator.SOFTMAX, _softmax_options(beta), xs,
                 f"softmax {shape} scale {scale:.6g} beta {beta:.6g}")
        done += 1


@pytest.mark.parametrize("beta", [1.0, 0.25, 3.0])
def test_softmax_every_int8_input(beta):
    """One row holding every int8 value (and its reverse), at 40 scales."""
    rng = np.random.default_rng(int(beta * 100))
    xs = np.stack([ALL_INT8, ALL_INT8[:, ::-1]], axis=1)  # [1, 2, 256]
    for s in np.exp(np.linspace(np.log(1e-4), np.log(20.0), 40)):
        g = _softmax_graph(rng, (1, 2, 256), float(s), beta)
        _compare(g, BuiltinOperator.SOFTMAX, _softmax_options(beta), xs,
                 f"softmax scale {s:.6g} beta {beta}")


def _sum_of_exps(xs: np.ndarray, scale: float, beta: float) -> float:
    """Largest row sum of exp(beta * scale * (x - max)), in units of exp(0)."""
    d = xs.astype(np.float64) - xs.max(axis=-1, keepdims=True)
    return float(np.exp(beta * scale * d).sum(axis=-1).max())


def test_softmax_long_rows():
    """Rows of 301 .. 2000 elements, up to 450 of them tied at the maximum. TFLM aborts the
    process once the fixed-point sum reaches 512 (its reciprocal exponent check), so inputs keep
    the float sum below 500, and scales at which no input of that length can are left out."""
    rng = np.random.default_rng(31)
    runs = 0
    for depth in [301, 400, 511, 512, 1000, 2000]:
        for scale in [0.002, 0.02, 0.05, 0.3]:
            if 1 + (depth - 1) * np.exp(-228 * scale) >= 500:
                continue
            g = _softmax_graph(rng, (1, depth), scale, 1.0)
            ties = min(depth, 450)
            xs = rng.integers(-128, 100, (2, depth)).astype(np.int8)
            while True:
                xs[:, rng.permutation(depth)[:ties]] = 100
                if _sum_of_exps(xs, scale, 1.0) < 500:
                    break
                ties //= 2
                xs = np.where(xs < 100, -128, xs).astype(np.int8) if ties == 0 else \
                    rng.integers(-128, 100, (2, depth)).astype(np.int8)
            _compare(g, BuiltinOperator.SOFTMAX, _softmax_options(1.0), xs,
                     f"softmax depth {depth} scale {scale} ties {ties}")
            runs += 1
    assert runs >= 15


@pytest.mark.parametrize("cls, op, scale, zp, why", [
    (Sigmoid, BuiltinOperator.LOGISTIC, 1 / 256, 0, "zero_point != std::numeric_limits<int8_t>"),
    (Softmax, BuiltinOperator.SOFTMAX, 1 / 128, -128, r"params\.scale == 1\.f / 256"),
    (Softmax, BuiltinOperator.SOFTMAX, 1 / 256, 0, "zero_point != -128")])
def test_output_quantization_tflm_rejects_is_rejected(cls, op, scale, zp, why):
    """Output parameters that TFLM's Prepare refuses are refused by infer() as well."""
    x = Value("x", (1, 16), DType.s8, QuantParams.per_tensor(0.1, 0))
    y = Value("y", (1, 16), DType.s8, QuantParams.per_tensor(scale, zp))
    with pytest.raises(TFLMRefused, match=why):
        run_op(op, _softmax_options(1.0) if cls is Softmax else None, [TensorSpec.of(x)],
               [TensorSpec.of(y)], [np.zeros((1, 16), np.int8)])
    node = make_node(cls, "n", [x], ["y"])
    node.outputs[0].quant = y.quant
    with pytest.raises(IRError, match="output must have scale"):
        node.check()


@pytest.mark.parametrize(("scale", "zp", "why"), [
    (1 / 65536 * 1.002, -32768, r"params\.scale not near 1\.f / 65536"),
    (1 / 65536, 0, "zero_point != -32768")])
def test_int16_softmax_output_parameters_tflm_refuses(scale, zp, why):
    """TFLM's int8 -> int16 SOFTMAX needs zero point -32768 and a scale within 0.1 % of
    1/65536; it refuses the rest in Prepare, and so does firmforge's op."""
    x = TensorSpec((1, 10), np.int8, 0.1, 3)
    y = TensorSpec((1, 10), np.int16, scale, zp)
    opts = schema.SoftmaxOptionsT()
    opts.beta = 1.0
    with pytest.raises(TFLMRefused, match=why):
        run_op(BuiltinOperator.SOFTMAX, opts, [x], [y], [np.zeros((1, 10), np.int8)])
    xv = Value("x", (1, 10), DType.s8, QuantParams.per_tensor(0.1, 3))
    with pytest.raises(IRError, match="scale 1/65536 and zero point -32768"):
        single(Softmax, "softmax", [xv], QuantParams.per_tensor(scale, zp), out_dtype=DType.s16)
