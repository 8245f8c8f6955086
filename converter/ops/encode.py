"""Rate coding on device: intensities in, one step of spikes out, from a specified generator.

The generator is Marsaglia's xorshift32 (shifts 13, 17, 5), one stream per layer, its state
starting at RATE_SEED after every reset. Each step draws one number per input element, in the
order of the flattened tensor (the IR's NHWC order), and

    level_i = clamp(x_q[i] - z_x, 0, 255)          (an intensity in [0, 1] is x_q = round(255 u) - 128)
    r       = xorshift32(r)                         r <- r ^ (r << 13); r ^= r >> 17; r ^= r << 5
    spike_i = (r >> 24) < level_i                   P(spike) = level / 256

In a float graph the input is the intensity u itself and level = clamp(round(255 u), 0, 255),
the same number the int8 input with scale 1/255 and zero point -128 carries, so the float and
the integer graph see the very same spikes. The state (one uint32, stored as s32) lives in the
plan's state region: every sequence that starts from a reset sees the same stream.

Python draws n numbers at once: xorshift32 is linear over GF(2), r_k = A^k r_0 with A the 32x32
bit matrix of one step, so the k-th number is the bits of A^k times those of the state
(``_powers``), exactly what the C loop computes one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np

from ..ir import DType, IRError, QuantRule, Stateful

RATE_SEED = 0x2545F491
LEVELS = 255  # an intensity of 1.0 is level 255: P(spike) = 255/256


def xorshift32(r: int) -> int:
    """One step of the generator (the C kernel's three lines)."""
    r ^= (r << 13) & 0xFFFFFFFF
    r ^= r >> 17
    r ^= (r << 5) & 0xFFFFFFFF
    return r


@lru_cache(maxsize=8)
def _powers(n: int) -> np.ndarray:
    """(n, 32, 32) uint8: A^1 .. A^n, A the bit matrix of ``xorshift32`` (column j: the image
    of bit j)."""
    a = np.array([[(xorshift32(1 << j) >> i) & 1 for j in range(32)] for i in range(32)],
                 np.int64)
    out = np.empty((n, 32, 32), np.uint8)
    m = np.eye(32, dtype=np.int64)
    for k in range(n):
        m = (a @ m) & 1
        out[k] = m
    return out


def draw(state: int, n: int) -> tuple[np.ndarray, int]:
    """The next ``n`` numbers of the stream after ``state`` (uint32 array), and the new state."""
    bits = np.array([(state >> j) & 1 for j in range(32)], np.int64)
    r_bits = (_powers(n).astype(np.int64) @ bits) & 1                      # (n, 32)
    r = (r_bits.astype(np.uint64) << np.arange(32, dtype=np.uint64)).sum(axis=1)
    r = r.astype(np.uint32)
    return r, int(r[-1]) if n else state


def levels_of_float(u: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(u, np.float64) * LEVELS), 0, LEVELS).astype(np.int64)


@dataclass(eq=False, kw_only=True, repr=False)
class RateEncode(Stateful):
    """Inputs ``[x]`` (f32 intensities, or s8 with its zero point); state ``[r]`` s32 (1, 1);
    output spikes of x's shape (f32 0/1 in a float graph, u1 in an integer one)."""

    quant_rule: ClassVar[QuantRule] = QuantRule.NONE

    def infer(self):
        x = self.x
        if len(self.state) != 1 or tuple(self.state[0].shape) != (1, 1) \
                or self.state[0].dtype is not DType.s32:
            raise IRError(f"{self.name}: the rate encoder keeps one s32 state of shape (1, 1)")
        if x.dtype is DType.f32:
            return [(x.shape, DType.f32)]
        if x.dtype is DType.s8 and x.quant is not None:
            return [(x.shape, DType.u1)]
        raise IRError(f"{self.name}: the rate encoder reads f32 or quantized s8, not "
                      f"{x.dtype.value}")

    def initial_state(self) -> list[np.ndarray]:
        return [np.array([[RATE_SEED]], np.uint32).view(np.int32)]

    def levels(self, x: np.ndarray) -> np.ndarray:
        if x.dtype == np.float32:
            return levels_of_float(x)
        zp = int(np.asarray(self.x.quant.zp).reshape(-1)[0])
        return np.clip(x.astype(np.int64) - zp, 0, LEVELS)

    def ref(self, xs, state):
        """One step. With a state of one row, consecutive samples are consecutive steps of
        one stream (the reference runner's order); with one state row per sample (the spiking
        project's batched steps), each sample draws from its own."""
        x = xs[0]
        rows = np.asarray(state[0]).view(np.uint32).reshape(-1)
        shared = rows.size == 1
        n = x.size // x.shape[0]
        outs, new = [], []
        r = int(rows[0])
        for sample in range(x.shape[0]):
            if not shared:
                r = int(rows[sample])
            nums, r = draw(r, n)
            new.append(r)
            lv = self.levels(x[sample:sample + 1]).reshape(-1)
            outs.append(((nums >> 24).astype(np.int64) < lv).reshape(x.shape[1:]))
        y = np.stack(outs).astype(np.float32 if x.dtype == np.float32 else np.uint8)
        kept = new[-1:] if shared else new
        return [y], [np.array(kept, np.uint32).reshape(-1, 1).view(np.int32)]
