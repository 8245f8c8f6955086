"""SVDF (singular value decomposition filter): TFLite's SVDF, integer-exact as TFLite Micro.

A rank-``R`` SVDF layer of ``U`` units has ``F = U * R`` filters over an ``I``-feature input and a
memory of ``M`` steps. Float definition, per call (one input frame x of I features):
    a_f   = sum_i W_feature[f, i] x_i                     (the filter's feature projection)
    S_f   = [S_f[1:], a_f]                                (its last M projections, newest last)
    y_u   = act(b_u + sum_{f in unit u} sum_m W_time[f, m] S_f[m])
with unit ``u`` owning the filters ``u*R .. u*R + R - 1``. The state S (F x M per batch row)
carries over from one call to the next.

Integer (TFLM's svdf_common.cc, EvalIntegerSvdfReference): int8 input and feature weights, and
time weights and state both int16 (the standard quantization) or both int8; int32 bias. Scales
s_x, s_wf, s_s (state), s_wt, s_y are per tensor, zero points z_x, z_s, z_y (weight zero points
are never read). Prepare derives, in double from the float32 scales (the tflite-micro
package's arithmetic; a float32 evaluation of the same expressions gives other multipliers,
which tests/test_tflm_svdf.py refutes)
    (M1, S1) = quantize(s_x * s_wf / s_s)       feature sum -> state
    (M2, S2) = quantize(s_s * s_wt / s_y)       time sum -> output
with quantize = fixed.quantize_multiplier, and requires |bias scale - s_s * s_wt| < 1e-5 (a
missing bias scale reads as 0). Eval, in this order:
 1. the state shifts left by one element (the whole (B, F, M) buffer moves down one place, so
    every row S_f drops its oldest entry S_f[0]; the last column is overwritten next);
 2. for each batch row and filter f:  d = wrap32(sum_i W_feature[f, i] (x_i - z_x))
        S_f[M-1] = wrapT(z_s + clamp(mbqm(d, M1, S1), Tmin, Tmax))
    (T is the state type: the clamp is to T's range *before* the zero point is added, and the
    sum is stored with two's-complement wrap; for an int8 state with z_s != 0 this wraps);
 3. t_f = wrap32(sum_m W_time[f, m] (S_f[m] - z_s))           (the new state, newest included)
 4. o_u = wrap32(bias_u + sum_{r < R} t_{u*R + r})            (bias 0 when absent)
 5. y_u = clamp(wrap32(mbqm(o_u, M2, S2) + z_y), -128, 127)
TFLM's integer kernel applies no fused activation (only the int8 clamp of step 5); the op's
``act`` narrows that clamp (``fixed.activation_range``) and is NONE for imported models.
The shift opens each call, so what is stored between calls (and compared byte for byte with
TFLM's state tensor in the tests) is the state after step 2: each row's last M projections,
newest last. TFLM's reset (and its allocation) sets an int8 state to z_s and an int16 one to 0
(``Stateful.initial_state``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fixed import activation_range, mbqm, quantize_multiplier, wrap32
from ..ir import Act, DType, IRError, Stateful, Value

BIAS_SCALE_TOLERANCE = 1e-5  # TFLM's Prepare: |bias scale - state scale * time scale| below it


@dataclass(frozen=True)
class SvdfQuant:
    """Prepared integer parameters (what TFLM's Prepare computes); see the module docstring."""

    state_dtype: DType             # s16 or s8 (the time weights have the same type)
    x_zp: int
    state_zp: int
    y_zp: int
    feature_mul: tuple[int, int]   # (M1, S1): effective_scale_1
    output_mul: tuple[int, int]    # (M2, S2): effective_scale_2


def effective_scale(a: float, b: float, c: float) -> float:
    """a * b / c in double, the float32 scales widened first, as TFLM's Prepare evaluates it."""
    return float(a) * float(b) / float(c)


def check_bias_scale(bias_scale: float, s_state: float, s_time: float, name: str = "svdf") -> None:
    """TFLM's Prepare refuses a bias scale that is not the state scale times the time weights'
    scale (the product in double) within an absolute 1e-5."""
    want = float(s_state) * float(s_time)
    if not abs(float(bias_scale) - want) < BIAS_SCALE_TOLERANCE:
        raise IRError(f"{name}: bias scale {bias_scale:g} is not the state scale times the time "
                      f"weights' scale ({want:g}), which TFLM's SVDF requires")


def prepare_params(state_dtype: DType, x_q: tuple[float, int], s_wf: float,
                   state_q: tuple[float, int], s_wt: float, y_q: tuple[float, int],
                   name: str = "svdf") -> SvdfQuant:
    """TFLM's Prepare from (scale, zero point) pairs of input, state and output and the two
    weight scales (float32 values, as the flatbuffer holds them)."""
    if state_dtype not in (DType.s16, DType.s8):
        raise IRError(f"{name}: integer svdf has an s16 or s8 state, not {state_dtype.value}")
    (s_x, zp_x), (s_s, zp_s), (s_y, zp_y) = x_q, state_q, y_q
    return SvdfQuant(state_dtype, int(zp_x), int(zp_s), int(zp_y),
                     quantize_multiplier(effective_scale(s_x, s_wf, s_s)),
                     quantize_multiplier(effective_scale(s_s, s_wt, s_y)))


def wrap_to(v: np.ndarray, dtype: DType) -> np.ndarray:
    """Two's-complement wrap of int values to ``dtype`` (C's conversion on every TFLM target)."""
    half = 1 << (dtype.bits - 1)
    return ((np.asarray(v, np.int64) + half) % (2 * half) - half).astype(dtype.np)


def to_state(q: SvdfQuant, d: np.ndarray) -> np.ndarray:
    """Step 2: a feature sum as the state's newest entry (clamped, then offset and wrapped)."""
    t = q.state_dtype
    return wrap_to(q.state_zp + np.clip(mbqm(d, *q.feature_mul), t.qmin, t.qmax), t)


def unit_sums(t: np.ndarray, rank: int) -> np.ndarray:
    """Step 4's reduction: (B, F) filter sums -> (B, F / rank), unit u summing filters
    u * rank .. u * rank + rank - 1."""
    return t.reshape(t.shape[0], -1, rank).sum(axis=2)


def advance(q: SvdfQuant, w_feature: np.ndarray, x: np.ndarray, state: np.ndarray
            ) -> np.ndarray:
    """Steps 1 and 2: x (B, I) int8 and the state (B, F * M) -> the new state."""
    batch, filters = x.shape[0], w_feature.shape[0]
    s = state.reshape(batch, filters, -1)
    d = wrap32((x.astype(np.int64) - q.x_zp) @ w_feature.astype(np.int64).T)   # (B, F)
    s = np.concatenate([s[:, :, 1:], to_state(q, d)[:, :, None]], axis=2)
    return s.reshape(state.shape)


def output(q: SvdfQuant, w_time: np.ndarray, bias: np.ndarray | None, rank: int,
           state: np.ndarray, clamp: tuple[int, int] = (-128, 127)) -> np.ndarray:
    """Steps 3 to 5: the (new) state (B, F * M) -> y (B, F / rank) int8."""
    filters, memory = w_time.shape
    s = state.reshape(state.shape[0], filters, memory).astype(np.int64)
    t = wrap32(np.sum(w_time.astype(np.int64) * (s - q.state_zp), axis=2))  # (B, F)
    o = unit_sums(t, rank)
    if bias is not None:
        o = o + bias.astype(np.int64)
    y = wrap32(mbqm(wrap32(o), *q.output_mul) + q.y_zp)
    return np.clip(y, *clamp).astype(np.int8)


def step(q: SvdfQuant, w_feature: np.ndarray, w_time: np.ndarray, bias: np.ndarray | None,
         rank: int, x: np.ndarray, state: np.ndarray, clamp: tuple[int, int] = (-128, 127)
         ) -> tuple[np.ndarray, np.ndarray]:
    """One call for a batch: x (B, I) int8, state (B, F * M) -> (y (B, U) int8, new state);
    the output reads the new state, its newest entries included."""
    state = advance(q, w_feature, x, state)
    return output(q, w_time, bias, rank, state, clamp), state


@dataclass(eq=False, kw_only=True, repr=False)
class Svdf(Stateful):
    """SVDF (module docstring). Inputs ``[x, w_feature, w_time]`` or ``[..., bias]``: x (B, I);
    w_feature (F, I) int8; w_time (F, M), int16 or int8 like the state; bias (F / rank,) int32.
    State ``[s]``, (B, M * F) as TFLite stores it: batch row b holds F rows of M entries,
    oldest first. Output y (B, F / rank) int8."""

    rank: int = 1
    act: Act = Act.NONE

    def sizes(self) -> tuple[int, int, int, int]:
        """(B, I, F, M), checked against the weights, the bias and the state."""
        x, w_f, w_t = self.inputs[:3]
        if len(self.inputs) not in (3, 4):
            raise IRError(f"{self.name}: svdf takes x, w_feature, w_time and an optional bias")
        if len(x.shape) != 2 or len(w_f.shape) != 2 or len(w_t.shape) != 2:
            raise IRError(f"{self.name}: svdf input and weights must be 2-D, got "
                          f"{[list(v.shape) for v in (x, w_f, w_t)]}")
        b, i = x.shape
        f, m = w_t.shape
        if self.rank < 1 or f % self.rank:
            raise IRError(f"{self.name}: {f} filters are not a multiple of rank {self.rank}")
        if w_f.shape != (f, i):
            raise IRError(f"{self.name}: {w_f.name} has shape {list(w_f.shape)}, svdf needs "
                          f"{[f, i]} ({f} filters, {i} inputs)")
        if len(self.inputs) == 4 and self.inputs[3].shape != (f // self.rank,):
            raise IRError(f"{self.name}: bias has shape {list(self.inputs[3].shape)}, svdf "
                          f"needs [{f // self.rank}] (one per unit)")
        if len(self.state) != 1 or self.state[0].shape != (b, m * f):
            raise IRError(f"{self.name}: svdf state must be one value of shape {[b, m * f]}")
        return b, i, f, m

    @property
    def bias(self) -> Value | None:
        return self.inputs[3] if len(self.inputs) == 4 else None

    def infer(self):
        x, w_f, w_t = self.inputs[:3]
        b, _, f, _ = self.sizes()
        s = self.state[0]
        if x.dtype is not DType.s8:
            raise IRError(f"{self.name}: svdf has an int8 implementation only, not "
                          f"{x.dtype.value}")
        if w_f.dtype is not DType.s8 or w_t.dtype not in (DType.s16, DType.s8) \
                or s.dtype is not w_t.dtype:
            raise IRError(f"{self.name}: int8 svdf needs s8 feature weights and time weights "
                          f"and state both s16 or both s8, got {w_f.dtype.value}, "
                          f"{w_t.dtype.value}, {s.dtype.value}")
        if self.bias is not None and self.bias.dtype is not DType.s32:
            raise IRError(f"{self.name}: svdf bias must be s32, not {self.bias.dtype.value}")
        return [((b, f // self.rank), DType.s8)]

    def macs(self) -> int:
        b, i, f, m = self.sizes()
        return b * f * (i + m)

    def requant(self) -> SvdfQuant:
        x, w_f, w_t = self.inputs[:3]
        s = self.state[0]
        for v in (x, w_f, w_t, s, self.y):
            if v.quant is None:
                raise IRError(f"{self.name}: integer svdf needs quantization parameters "
                              f"({v.name})")
            if v.quant.per_channel:
                raise IRError(f"{self.name}: svdf needs per-tensor parameters for {v.name} "
                              "(TFLM's SVDF reads one scale per tensor)")
        for w in (w_f, w_t):
            if w.quant.zp != 0:
                raise IRError(f"{self.name}: svdf weights {w.name} need zero point 0 (TFLM "
                              "never reads it)")
        if self.bias is not None:
            bq = self.bias.quant
            check_bias_scale(float(bq.scale[0]) if bq is not None else 0.0, s.quant.s,
                             w_t.quant.s, self.name)
        return prepare_params(s.dtype, (x.quant.s, x.quant.zp), w_f.quant.s,
                              (s.quant.s, s.quant.zp), w_t.quant.s,
                              (self.y.quant.s, self.y.quant.zp), self.name)

    def act_range(self) -> tuple[int, int]:
        return activation_range(self.act, self.y.quant, DType.s8)

    def ref(self, xs, state):
        x, w_f, w_t = xs[:3]
        bias = xs[3] if len(xs) == 4 else None
        y, s = step(self.requant(), w_f, w_t, bias, self.rank, x, state[0], self.act_range())
        return [y], [s]
