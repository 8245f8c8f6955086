"""LSTM over a sequence: TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM, integer-exact as TFLite Micro.

Float (Keras' LSTM, gates in TFLite's order i, f, g, o; per time step t):
    i = sigmoid(W_i x_t + R_i h + b_i)      f = sigmoid(W_f x_t + R_f h + b_f)
    g = tanh(W_g x_t + R_g h + b_g)         o = sigmoid(W_o x_t + R_o h + b_o)
    c = f * c + i * g  (clipped to +-cell_clip when cell_clip > 0)
    h = o * tanh(c);   y_t = h
h (the output state) and c (the cell state) carry over from one step, and one call, to the next.

Integer (TFLM's lstm_eval; int8 activations with int32 biases, or 16x8: int16 activations with
int64 biases; int8 weights, int16 cell state). Scales s_x (input), s_h (output state), s_c (cell
state), s_W/s_R per weight tensor, all per tensor; gate pre-activations are Q3.12 (scale 2**-12)
and gate outputs Q0.15 (2**-15). Per time step, for each gate k in (i, f, g, o):
    pre_k = sat16(fc(x_q - zp_x, W_k, b_k; s_x s_W_k / 2**-12)
                  + fc(h_q - zp_h, R_k, 0; s_h s_R_k / 2**-12))
    i, f, o = sigmoid16(pre);  g = tanh16(pre)               (lut16.py, rescale (0, 0))
    c' = sat16(mul(f, c; 2**-15 s_c / s_c) + mul(i, g; 2**-30 / s_c))
    c' = clamp(c', -C, C), C = trunc(cell_clip / s_c), whenever cell_clip > 0 (so a clip
         below one cell step clamps c' to 0)
    h' = clamp(zp_h + mbqm(tanh16(c'; cell rescale) * o, M_h, S_h), qmin, qmax),
         (M_h, S_h) = quantize(2**-30 / s_h);    y_t = h'
with
    fc(a, W, b; m) = sat16(rq(sum_j a_j W_j + b, quantize(m)))  rq: mbqm on the int32 sum
                     (int8) or mbqm64 on the int64 sum (16x8)
    mul(a, b; m)   = sat16(mbqm(a * b, quantize(m)))
    quantize       = fixed.quantize_multiplier of the real multiplier formed in double from the
                     float32 scales; sat16 clamps to int16.
The cell-state tanh reads c' as Q(15-p).p with p = -round(log2(s_c)) (TFLM's CheckedLog2, in
float32; used even when s_c is not a power of two). Its Q3.12 input is c' * 2**(12 - p): the
rescale is x * (3 << (12 - p)) for p <= 12, else (3x + 2**(p - 13)) >> (p - 12).
The output state's own parameters (tensor 18) define h'; TFLM copies h' into the output tensor
whatever that tensor's parameters say.

Layout: x is (B, T, I) batch-major or (T, B, I) time-major; every batch row runs independently
(TFLM runs batch-major rows one after the other, time-major ones side by side: same numbers).
State: h (B, S) in the activation dtype, c (B, S) int16; TFLM's initial values (allocation and
MicroInterpreter::Reset) are zp_h bytes for an int8 h, 0 for an int16 h and for c.

Supported is what TFLM runs: the standard LSTM with all 8 weight tensors (no CIFG), tanh as the
cell activation, no peephole, no projection, no layer normalisation, per-tensor symmetric
weights (TFLM's LSTM reads only a per-tensor multiplier). Anything else raises IRError naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..fixed import mbqm, mbqm64, quantize_multiplier, wrap32
from ..ir import DType, IRError, QuantParams, Stateful, Value
from .lut16 import sigmoid_s16, tanh_s16

GATES = ("input", "forget", "cell", "output")
GATE_SCALE = 2.0 ** -12  # Q3.12 pre-activations
ACT_SCALE = 2.0 ** -15   # Q0.15 gate outputs
MBQM64_MAX_SHIFT = 7     # TFLM's int64 MultiplyByQuantizedMultiplier asserts shift < 8
ACC64_LIMIT = 1 << 47    # ... and |x| < 2**47


@dataclass(frozen=True)
class LstmWeights:
    """Integer constants, gates stacked in TFLite's order (input, forget, cell, output)."""

    w_x: np.ndarray  # (4, S, I) int8 input weights
    w_h: np.ndarray  # (4, S, S) int8 recurrent weights
    bias: np.ndarray  # (4, S) int32 (int8 activations) or int64 (16x8)


@dataclass(frozen=True)
class LstmQuant:
    """Prepared integer parameters (what TFLM's Prepare computes); see the module docstring."""

    dtype: DType             # activations: s8 or s16
    x_zp: int
    h_zp: int
    gate_x: np.ndarray       # (4, 2) multiplier, shift of the input FC of each gate
    gate_h: np.ndarray       # (4, 2) the same for the recurrent FC
    forget_mul: tuple[int, int]
    input_mul: tuple[int, int]
    output_mul: tuple[int, int]
    cell_clip: int | None    # None: no clipping
    tanh_multiplier: int     # cell-state tanh rescale (lut16._rescale)
    tanh_shift: int


def gate_multiplier(s_in: float, s_w: float) -> tuple[int, int]:
    """A gate FC's requantization: double(s_in) * double(s_w) / 2**-12."""
    return quantize_multiplier(s_in * s_w / GATE_SCALE)


def mul_multiplier(s_a: float, s_b: float, s_out: float) -> tuple[int, int]:
    """An inter-gate multiplication's requantization: double(s_a) * double(s_b) / double(s_out)."""
    return quantize_multiplier(s_a * s_b / s_out)


def cell_scale_power(s_c: float) -> int:
    """TFLM's CheckedLog2 of the cell scale: round(log(s) * (1 / log(2))) in float32."""
    lg = np.float32(np.log(np.float32(s_c))) * (np.float32(1.0) / np.float32(np.log(np.float32(2))))
    return int(math.copysign(math.floor(abs(float(lg)) + 0.5), float(lg)))


def cell_tanh_rescale(s_c: float) -> tuple[int, int]:
    """(multiplier, left_shift) of the cell-state tanh (lut16._rescale) for a Q(15-p).p cell
    state, p = -CheckedLog2(s_c): its Q3.12 input is c * 2**(12 - p)."""
    p = -cell_scale_power(s_c)
    return (0, 12 - p) if p <= 12 else (3, p - 12)


def quantized_cell_clip(cell_clip: float, s_c: float) -> int | None:
    """int16(min(max(double(clip) / double(s_c), -32768), 32767)), truncated toward zero; None
    (no clipping) unless the float clip is positive, which is TFLM's test, so a positive clip
    that truncates to 0 clamps the cell state to 0."""
    if not cell_clip > 0:
        return None
    return int(min(max(float(np.float32(cell_clip)) / s_c, -32768.0), 32767.0))


def prepare_params(dtype: DType, x_q: tuple[float, int], w_scales: np.ndarray,
                   h_q: tuple[float, int], s_c: float, cell_clip: float, name: str = "lstm"
                   ) -> LstmQuant:
    """TFLM's Prepare: ``x_q``/``h_q`` are (scale, zero point) of the input and the output
    state, ``w_scales`` the 8 weight scales (4 input, then 4 recurrent, gate order), ``s_c`` the
    cell-state scale. Scales are float32 values (as the flatbuffer holds them)."""
    if dtype not in (DType.s8, DType.s16):
        raise IRError(f"{name}: integer lstm has s8 or s16 activations, not {dtype.value}")
    (s_x, zp_x), (s_h, zp_h) = x_q, h_q
    w = np.asarray(w_scales, np.float64)
    gx = np.array([gate_multiplier(s_x, float(s)) for s in w[:4]], np.int64)
    gh = np.array([gate_multiplier(s_h, float(s)) for s in w[4:]], np.int64)
    if dtype is DType.s16 and max(gx[:, 1].max(), gh[:, 1].max()) > MBQM64_MAX_SHIFT:
        raise IRError(f"{name}: a 16x8 gate requantization shift exceeds TFLM's int64 limit "
                      f"{MBQM64_MAX_SHIFT} (input or weight scales too large)")
    if not -2 <= -cell_scale_power(s_c) <= 40:
        # Beyond these the int32 rescale of TFLM's tanh overflows or shifts by 32 and more.
        raise IRError(f"{name}: cell state scale {s_c:g} is outside 2**-40 .. 2**2")
    tanh_m, tanh_s = cell_tanh_rescale(s_c)
    return LstmQuant(
        dtype, int(zp_x), int(zp_h), gx, gh,
        forget_mul=mul_multiplier(ACT_SCALE, s_c, s_c),
        input_mul=mul_multiplier(ACT_SCALE, ACT_SCALE, s_c),
        output_mul=mul_multiplier(ACT_SCALE, ACT_SCALE, s_h),
        cell_clip=quantized_cell_clip(cell_clip, s_c),
        tanh_multiplier=tanh_m, tanh_shift=tanh_s)


def initial_state(q: LstmQuant, batch: int, units: int) -> tuple[np.ndarray, np.ndarray]:
    """(h, c) as TFLM initialises and resets them: int8 h to its zero point, the rest to 0."""
    h = np.full((batch, units), q.h_zp if q.dtype is DType.s8 else 0, q.dtype.np)
    return h, np.zeros((batch, units), np.int16)


def _sat16(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -32768, 32767)


def _fc(q: LstmQuant, a: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
        mult: int, shift: int) -> np.ndarray:
    """One gate FC: (B, K) offset inputs times (S, K) weights -> (B, S) Q3.12, saturated."""
    acc = a @ w.T.astype(np.int64)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    if q.dtype is DType.s8:
        return _sat16(mbqm(wrap32(acc), mult, shift))
    return _sat16(mbqm64(acc, mult, shift))


def _mul(a: np.ndarray, b: np.ndarray, mult_shift: tuple[int, int]) -> np.ndarray:
    return mbqm(a.astype(np.int64) * b.astype(np.int64), *mult_shift)


def step(q: LstmQuant, w: LstmWeights, x: np.ndarray, h: np.ndarray, c: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray]:
    """One time step for a batch: x (B, I), h (B, S), c (B, S) -> (h', c')."""
    xa = x.astype(np.int64) - q.x_zp
    ha = h.astype(np.int64) - q.h_zp
    pre = [_sat16(_fc(q, xa, w.w_x[k], w.bias[k], *q.gate_x[k])
                  + _fc(q, ha, w.w_h[k], None, *q.gate_h[k])) for k in range(4)]
    i_gate, f_gate, o_gate = (sigmoid_s16(pre[k]) for k in (0, 1, 3))
    g_gate = tanh_s16(pre[2])
    c_new = _sat16(_sat16(_mul(f_gate, c, q.forget_mul)) + _sat16(_mul(i_gate, g_gate, q.input_mul)))
    if q.cell_clip is not None:
        c_new = np.clip(c_new, -q.cell_clip, q.cell_clip)
    c_new = c_new.astype(np.int16)
    t = tanh_s16(c_new, q.tanh_multiplier, q.tanh_shift)
    h_new = wrap32(q.h_zp + _mul(t, o_gate, q.output_mul))  # TFLM's int32 addition
    h_new = np.clip(h_new, q.dtype.qmin, q.dtype.qmax).astype(q.dtype.np)
    return h_new, c_new


def sequence(q: LstmQuant, w: LstmWeights, x: np.ndarray, h: np.ndarray, c: np.ndarray,
             time_major: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run every time step of x ((B, T, I), or (T, B, I) when ``time_major``) from state
    (h, c), each (B, S); returns (y shaped like x with S features, h, c)."""
    xs = np.swapaxes(x, 0, 1) if not time_major else x
    ys = []
    for x_t in xs:
        h, c = step(q, w, x_t, h, c)
        ys.append(h)
    y = np.stack(ys, axis=0)
    return (y if time_major else np.swapaxes(y, 0, 1)), h, c


@dataclass(eq=False, kw_only=True, repr=False)
class Lstm(Stateful):
    """UNIDIRECTIONAL_SEQUENCE_LSTM (module docstring). Inputs ``[x, w_x, w_h, bias]``:
    x (B, T, I), or (T, B, I) when ``time_major``; w_x (4, S, I) and w_h (4, S, S) with one
    scale per gate (quantization axis 0, zero points 0); bias (4, S): int32 for int8
    activations, int64 for 16x8, float32 for float. State ``[h, c]``, each (B, S): the output
    state in the activation dtype and the cell state (int16, zero point 0; float32 for float).
    Output y: x's layout with S features, the output state's quantization."""

    cell_clip: float = 0.0
    time_major: bool = False

    def sizes(self) -> tuple[int, int, int, int]:
        """(B, T, I, S), checked against the weights and the state."""
        x, w_x, w_h, b = self.inputs
        if len(x.shape) != 3:
            raise IRError(f"{self.name}: lstm input must be 3-D, got {list(x.shape)}")
        t, bt, i = x.shape if self.time_major else (x.shape[1], x.shape[0], x.shape[2])
        s = w_x.shape[1] if len(w_x.shape) == 3 else -1
        for v, want in ((w_x, (4, s, i)), (w_h, (4, s, s)), (b, (4, s))):
            if tuple(v.shape) != want:
                raise IRError(f"{self.name}: {v.name} has shape {list(v.shape)}, lstm needs "
                              f"{list(want)} (gates i, f, g, o; {s} units, {i} inputs)")
        if len(self.state) != 2 or any(tuple(v.shape) != (bt, s) for v in self.state):
            raise IRError(f"{self.name}: lstm state must be [h, c], each {[bt, s]}")
        return bt, t, i, s

    def infer(self):
        x, w_x, w_h, b = self.inputs
        bt, t, _, s = self.sizes()
        h, c = self.state
        if x.dtype is DType.f32:
            want = (DType.f32, DType.f32, DType.f32, DType.f32)
        elif x.dtype in (DType.s8, DType.s16):
            want = (DType.s8, DType.s8, DType.s32 if x.dtype is DType.s8 else DType.s64, DType.s16)
        else:
            raise IRError(f"{self.name}: lstm has no {x.dtype.value} implementation")
        got = (w_x.dtype, w_h.dtype, b.dtype, c.dtype)
        if got != want or h.dtype is not x.dtype:
            raise IRError(f"{self.name}: {x.dtype.value} lstm needs weights, bias, cell state "
                          f"{'/'.join(d.value for d in want)} and a {x.dtype.value} output "
                          f"state, got {'/'.join(d.value for d in got)} and {h.dtype.value}")
        return [((t, bt, s) if self.time_major else (bt, t, s), x.dtype)]

    def macs(self) -> int:
        bt, t, i, s = self.sizes()
        return bt * t * 4 * s * (i + s)

    def requant(self) -> LstmQuant:
        x, w_x, w_h, _ = self.inputs
        h, c = self.state
        for v in (x, w_x, w_h, h, c, self.y):
            if v.quant is None:
                raise IRError(f"{self.name}: integer lstm needs quantization parameters "
                              f"({v.name})")
        for v in (x, h, c, self.y):
            if v.quant.per_channel:
                raise IRError(f"{self.name}: lstm needs per-tensor parameters for {v.name}")
        w_scales = [_gate_scales(self.name, w) for w in (w_x, w_h)]
        if c.quant.zp != 0:
            raise IRError(f"{self.name}: the cell state needs zero point 0 (TFLM ignores it)")
        if not self.y.quant.same_as(h.quant):
            raise IRError(f"{self.name}: the output's quantization must equal the output "
                          f"state's (TFLM copies the state's bytes), got scale "
                          f"{self.y.quant.s:g}/{h.quant.s:g}, zero point "
                          f"{self.y.quant.zp}/{h.quant.zp}")
        q = prepare_params(x.dtype, (x.quant.s, x.quant.zp), np.concatenate(w_scales),
                           (h.quant.s, h.quant.zp), c.quant.s, self.cell_clip, self.name)
        self._check_accumulators()
        return q

    def _check_accumulators(self) -> None:
        """The sums must stay within what TFLM's accumulator holds (int32, or 2**47 for 16x8)."""
        x, w_x, w_h, b = self.inputs
        h = self.state[0]
        limit = (1 << 31) if x.dtype is DType.s8 else ACC64_LIMIT
        bias = int(np.max(np.abs(b.data.astype(np.int64)), initial=0)) if b.is_const else 0
        for v, w in ((x, w_x), (h, w_h)):
            span = (v.dtype.qmax - v.dtype.qmin) // 2 + 1 + abs(v.quant.zp)
            if bias + w.shape[2] * 128 * span >= limit:
                raise IRError(f"{self.name}: a gate sum over {w.shape[2]} {v.name} values can "
                              f"overflow TFLM's accumulator (bias {bias})")

    def ref(self, xs, state):
        x, w_x, w_h, b = xs
        h, c = state
        if x.dtype == np.float32:
            return _float_sequence(self, x, w_x, w_h, b, h, c)
        q = self.requant()
        y, h, c = sequence(q, LstmWeights(w_x, w_h, b), x, h, c, self.time_major)
        return [y], [h, c]


def _gate_scales(name: str, w: Value) -> np.ndarray:
    """The four gate scales of stacked weights: one per index of axis 0, zero points 0."""
    q: QuantParams = w.quant
    if q.per_channel and (q.axis != 0 or q.scale.size != 4):
        raise IRError(f"{name}: lstm weights {w.name} need one scale per gate (TFLM's LSTM "
                      f"reads per-tensor weight scales only), got {q.scale.size} along axis "
                      f"{q.axis}")
    if np.any(q.zero_point != 0):
        raise IRError(f"{name}: lstm weights {w.name} need zero points 0")
    return np.broadcast_to(q.scale.astype(np.float64), (4,))


def _float_sequence(node: Lstm, x, w_x, w_h, b, h, c):
    """Float LSTM (module docstring), float32 throughout."""
    def sig(v):
        return (1.0 / (1.0 + np.exp(-v))).astype(np.float32)

    xs = x if node.time_major else np.swapaxes(x, 0, 1)
    h, c = h.astype(np.float32), c.astype(np.float32)
    ys = []
    for x_t in xs:
        pre = [x_t @ w_x[k].T + h @ w_h[k].T + b[k] for k in range(4)]
        c = sig(pre[1]) * c + sig(pre[0]) * np.tanh(pre[2])
        if node.cell_clip > 0:
            c = np.clip(c, -node.cell_clip, node.cell_clip)
        h = (sig(pre[3]) * np.tanh(c)).astype(np.float32)
        ys.append(h)
    y = np.stack(ys)
    return [y if node.time_major else np.swapaxes(y, 0, 1)], [h, c.astype(np.float32)]
