"""Dense (fully connected) layer over the last axis, leading dimensions kept; BatchMatMul.

Float:  y[..., o] = b[o] + sum_k x[..., k] * w[o, k]
int8 (TFLM's FULLY_CONNECTED, symmetric weights so their zero point is 0):
        acc[o] = b[o] + sum_k (x_q[k] + in_offset) * w_q[o, k]       in_offset = -x_zp
        y_q[o] = clamp(mbqm(acc[o], M[o], S[o]) + y_zp, act_min, act_max)
        with per-tensor or per-channel weight scales (M, S as for convolutions); w_q is int8
        or int4 (s4), the same arithmetic (see conv.py).
16x8 (int16 x and y, int8 weights; TFLM's int16 FULLY_CONNECTED, which does apply the int16
zero points): acc[o] as above, exact in int64, then
        y_q[o] = clamp(mbqm64(acc[o], M[o], S[o]) + y_zp, act_min, act_max)        s64 bias
        y_q[o] = clamp(mbqm(wrap32(acc[o]), M[o], S[o]) + y_zp, act_min, act_max)  s32 bias
        (TFLM accumulates in the bias type, and int32 wraps on overflow; y_zp is added in
        wrapping int32 as TFLM does, which only matters for outputs that saturate anyway)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..fixed import activation_range, mbqm, quantize_multiplier
from ..ir import Act, DType, IRError, Node, QuantRule
from .conv import _check_int_io, int_requant, requantize_out


@dataclass(eq=False, kw_only=True, repr=False)
class Dense(Node):
    """Inputs ``[x (..., K), w (O, K), b (O,)]``; output ``(..., O)``."""

    act: Act = Act.NONE
    quant_rule: ClassVar[QuantRule] = QuantRule.OWN
    weight_axis: ClassVar[int] = 0  # OK: per output feature

    def _dims(self) -> tuple[int, int]:
        x, w, b = self.inputs
        if len(w.shape) != 2 or x.shape[-1] != w.shape[1]:
            raise IRError(f"{self.name}: input {x.shape} does not match weights {w.shape} (O, K)")
        if b.shape != (w.shape[0],):
            raise IRError(f"{self.name}: bias shape {b.shape} != ({w.shape[0]},)")
        return w.shape[0], w.shape[1]

    def infer(self):
        o, k = self._dims()
        x = self.inputs[0]
        if x.dtype is DType.f32:
            return [((*x.shape[:-1], o), DType.f32)]
        if x.dtype in (DType.s8, DType.s16):
            _check_int_io(self, k, offsets16=True)
            return [((*x.shape[:-1], o), x.dtype)]
        raise IRError(f"{self.name}: dense has no {x.dtype.value} implementation")

    def macs(self) -> int:
        o, k = self._dims()
        return o * k * (self.x.size // self.x.shape[-1])

    def requant(self) -> tuple[np.ndarray, np.ndarray]:
        return int_requant(self)

    def act_range(self) -> tuple[int, int]:
        return activation_range(self.act, self.y.quant, self.y.dtype)

    def ref(self, xs):
        x, w, b = xs
        if x.dtype == np.float32:
            return [self.act.apply_float((x @ w.T.astype(np.float32) + b).astype(np.float32))]
        acc = (x.astype(np.int64) - self.x.quant.zp) @ w.T.astype(np.int64) + b.astype(np.int64)
        return [requantize_out(self, acc)]


# Products (a - zp_a) * (b - zp_b) of int8 values reach 255 * 255, so an int32 accumulator holds
# up to this many of them without overflow (TFLM's int32 sum would be undefined beyond).
BMM_MAX_DEPTH = ((1 << 31) - 1) // (255 * 255)


@dataclass(eq=False, kw_only=True, repr=False)
class BatchMatMul(Node):
    """Batched matrix product of two operands, either an activation or a constant (TFLite's
    BATCH_MATMUL); batch dimensions broadcast as in numpy (both padded to the output's rank).

    Float:  y[..., i, j] = sum_k A[..., i, k] * B[..., k, j], with A = a (a's last two
            dimensions swapped if ``adj_x``) and B = b (swapped if ``adj_y``).
    int8 (TFLM's batch_matmul.cc / reference BatchMatMul with FullyConnectedParams, per-tensor
    parameters, any zero points):
            acc = sum_k (A_q[i, k] - zp_a) * (B_q[k, j] - zp_b)      int32, depth <= 33025
            y_q = clamp(mbqm(acc, M, S) + zp_y, -128, 127)
            M, S = quantize_multiplier(s_a * s_b / s_y)     in double
    (TFLM's source at hand multiplies the two float32 scales in float32; the tflite-micro
    package, the judge, works in double, as test_tflm_precision establishes. No fused
    activation.) Activation operands keep the batch first: their rank is the output's and at
    least 3, and a constant operand spans no batch.
    """

    adj_x: bool = False
    adj_y: bool = False
    quant_rule: ClassVar[QuantRule] = QuantRule.OWN

    def _mats(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(rows, depth) of A and (depth, cols) of B."""
        a, b = self.inputs
        ra, ca = a.shape[-2:] if len(a.shape) >= 2 else (0, 0)
        rb, cb = b.shape[-2:] if len(b.shape) >= 2 else (0, 0)
        return ((ca, ra) if self.adj_x else (ra, ca)), ((cb, rb) if self.adj_y else (rb, cb))

    def infer(self):
        a, b = self.inputs
        if not (2 <= len(a.shape) <= 5 and 2 <= len(b.shape) <= 5):
            raise IRError(f"{self.name}: batch_matmul operands need 2 to 5 dimensions, got "
                          f"{a.shape} and {b.shape}")
        if a.dtype is not b.dtype or a.dtype not in (DType.f32, DType.s8):
            raise IRError(f"{self.name}: batch_matmul has no {a.dtype.value} x {b.dtype.value} "
                          "implementation")
        (rows, depth), (depth_b, cols) = self._mats()
        if depth != depth_b:
            raise IRError(f"{self.name}: {a.shape} (adj_x={self.adj_x}) and {b.shape} "
                          f"(adj_y={self.adj_y}) do not multiply")
        try:
            batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise IRError(f"{self.name}: batch dimensions of {a.shape} and {b.shape} do not "
                          "broadcast") from None
        shape = (*batch, rows, cols)
        for v in (a, b):
            if not v.is_const and (len(v.shape) != len(shape) or len(shape) < 3):
                raise IRError(f"{self.name}: activation {v.name} {v.shape} must keep the batch "
                              f"first: rank {len(shape)} of the output and at least 3")
            if v.is_const and len(v.shape) == len(shape) and v.shape[0] != 1:
                raise IRError(f"{self.name}: constant {v.name} {v.shape} spans the batch")
        if a.dtype is DType.s8:
            for v in (a, b, *self.outputs[:1]):
                if v.quant is None or v.quant.per_channel:
                    raise IRError(f"{self.name}: int8 batch_matmul needs per-tensor "
                                  f"quantization of {v.name}")
            if depth > BMM_MAX_DEPTH:
                raise IRError(f"{self.name}: depth {depth} would overflow TFLM's int32 "
                              f"accumulator (at most {BMM_MAX_DEPTH})")
        return [(shape, a.dtype)]

    def macs(self) -> int:
        (rows, depth), (_, cols) = self._mats()
        return self.y.size * depth if rows and cols else 0

    def requant(self) -> tuple[int, int]:
        a, b = self.inputs
        try:
            return quantize_multiplier(a.quant.s * b.quant.s / self.y.quant.s)
        except ValueError as e:
            raise IRError(f"{self.name}: {e}") from None

    def ref(self, xs):
        a, b = xs
        if self.adj_x:
            a = np.swapaxes(a, -1, -2)
        if self.adj_y:
            b = np.swapaxes(b, -1, -2)
        if a.dtype == np.float32:
            return [np.matmul(a, b).astype(np.float32)]
        qa, qb, qy = self.inputs[0].quant, self.inputs[1].quant, self.y.quant
        acc = np.matmul(a.astype(np.int64) - qa.zp, b.astype(np.int64) - qb.zp)
        m, s = self.requant()
        return [np.clip(mbqm(acc, m, s) + qy.zp, -128, 127).astype(np.int8)]
