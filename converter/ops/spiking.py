"""Leaky integrate-and-fire neurons, one time step per call (snnTorch's Leaky, RLeaky and
Synaptic; NIR's IF, LIF, CubaLIF and LI after forward-Euler discretisation).

A spiking network is a graph of one time step: its synaptic layers (Dense, Conv2d, pools,
sums) compute the input current I[t] of each neuron layer, and ``Lif`` carries the membrane
from one call to the next as its state. T consecutive calls are T time steps.

Float (snnTorch's default, ``reset_delay=True``; ``beta``/``alpha`` already clamped to [0, 1]):
    r[t]   = mem[t-1] > thr                       (the spike of the previous step)
    d[t]   = I[t] + W_rec r[t]                    (W_rec only for recurrent layers)
    syn[t] = alpha * syn[t-1] + d[t]              (synaptic layers; otherwise syn[t] = d[t])
    mem[t] = beta * mem[t-1] + syn[t] - r[t] * thr              reset SUBTRACT
    mem[t] = beta * (1 - r[t]) * mem[t-1] + syn[t]              reset ZERO
    mem[t] = beta * mem[t-1] + syn[t]                           reset NONE
    spk[t] = mem[t] > thr                         (strictly)
The previous spike is recomputed from the stored membrane (snnTorch's ``mem_reset``), so the
state is the membrane alone (and the synaptic current for synaptic layers). A layer that does
not fire (NIR's LI, snnTorch's membrane readout) outputs ``mem[t]`` instead of spikes and
never resets.

Integer (the same equations on integers; every value of a layer is in the units of its
membrane scale s[n] per neuron, which the quantizer (``snn/``) chooses so that the current's
accumulator, the recurrent weights and the threshold all share it):
    decay(v, b) = (v * b + 2^14) >> 15            DecayMode.Q15: b = round(beta * 2^15) in [0, 2^15]
    decay(v, k) = v - (v >> k)                    DecayMode.SHIFT: beta ~ 1 - 2^-k, k in [1, 30]
    syn[t] = sat(decay(syn[t-1], a) + d[t])
    mem[t] = sat(decay(mem[t-1], b) + syn[t] - r[t] * thr)      (ZERO: decay(0) when r[t])
    spk[t] = mem[t] > thr
with ``>>`` the arithmetic (floor) shift, every sum in int64, and ``sat`` saturating to the
membrane dtype (s16 or s32). The quantizer checks on calibration data that no membrane
saturates, so ``sat`` only guards against inputs calibration never saw.

Inputs ``[current, beta, threshold]``, then ``alpha`` when ``synaptic``, then ``w_rec (N, N)``
when ``recurrent``; every parameter has one entry per neuron (the current's last axis, N) or a
single entry for the whole layer. Float: all f32. Integer: current s32, beta and alpha s32
(Q15 multipliers; for SHIFT the layer's single k), threshold s32, w_rec s8 (spike inputs, so
no zero point). State ``[mem]`` or ``[syn, mem]``, the current's shape, f32 or the
``membrane`` dtype. Output spikes (f32 0/1 in a float graph, u1 in an integer one) or, when
``fires`` is False, the membrane.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir import DType, IRError, QuantRule, Stateful, Value


class Reset(enum.Enum):
    """What a spike does to the membrane at the next step (snnTorch's ``reset_mechanism``)."""

    SUBTRACT = "subtract"
    ZERO = "zero"
    NONE = "none"


class DecayMode(enum.Enum):
    """How an integer layer multiplies by its decay factor (module docstring)."""

    Q15 = "q15"
    SHIFT = "shift"


Q15_ONE = 1 << 15


def decay_q15(v: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(v * b + 2^14) >> 15 in int64: v times b / 2^15, rounded half up."""
    return (v.astype(np.int64) * np.asarray(b, np.int64) + (1 << 14)) >> 15


def decay_shift(v: np.ndarray, k: int) -> np.ndarray:
    """v - (v >> k) in int64: v times 1 - 2^-k, the product rounded up (floor of v >> k)."""
    v = v.astype(np.int64)
    return v - (v >> k)


@dataclass(eq=False, kw_only=True, repr=False)
class Lif(Stateful):
    """A layer of leaky integrate-and-fire neurons (module docstring)."""

    reset: Reset = Reset.SUBTRACT
    synaptic: bool = False
    recurrent: bool = False
    fires: bool = True
    decay_mode: DecayMode = DecayMode.Q15
    quant_rule: ClassVar[QuantRule] = QuantRule.NONE

    # -- inputs by role ----------------------------------------------------------------------
    @property
    def current(self) -> Value:
        return self.inputs[0]

    @property
    def beta(self) -> Value:
        return self.inputs[1]

    @property
    def threshold(self) -> Value:
        return self.inputs[2]

    @property
    def alpha(self) -> Value | None:
        return self.inputs[3] if self.synaptic else None

    @property
    def w_rec(self) -> Value | None:
        return self.inputs[3 + self.synaptic] if self.recurrent else None

    @property
    def neurons(self) -> int:
        return self.current.shape[-1]

    @property
    def membrane(self) -> DType:
        """The membrane's dtype (f32 in a float graph)."""
        return self.state[-1].dtype

    def infer(self):
        want = 3 + self.synaptic + self.recurrent
        if len(self.inputs) != want:
            raise IRError(f"{self.name}: lif with synaptic={self.synaptic}, "
                          f"recurrent={self.recurrent} takes {want} inputs, got {len(self.inputs)}")
        if len(self.state) != 1 + self.synaptic:
            raise IRError(f"{self.name}: lif keeps {1 + self.synaptic} state tensors, "
                          f"got {len(self.state)}")
        x, n = self.current, self.neurons
        for v in (self.beta, self.threshold, self.alpha):
            if v is not None and (not v.is_const or v.data.size not in (1, n)):
                raise IRError(f"{self.name}: parameter {v.name} needs 1 or {n} constant "
                              f"entries, got {v.shape}")
        if self.w_rec is not None and tuple(self.w_rec.shape) != (n, n):
            raise IRError(f"{self.name}: recurrent weights {self.w_rec.shape} are not ({n}, {n})")
        if not self.fires and (self.recurrent or self.reset is not Reset.NONE):
            raise IRError(f"{self.name}: a layer that does not fire has no reset and no "
                          "recurrence")
        for s in self.state:
            if tuple(s.shape[1:]) != tuple(x.shape[1:]):
                raise IRError(f"{self.name}: state {s.name} {s.shape} is not the current's "
                              f"shape {x.shape}")
        if x.dtype is DType.f32:
            mem = DType.f32
            if any(s.dtype is not DType.f32 for s in self.state):
                raise IRError(f"{self.name}: a float lif keeps f32 state")
            return [(x.shape, DType.f32 if self.fires else mem)]
        if x.dtype is not DType.s32:
            raise IRError(f"{self.name}: lif takes an f32 or s32 current, not {x.dtype.value}")
        mem = self.membrane
        if mem not in (DType.s16, DType.s32) or any(s.dtype is not mem for s in self.state):
            raise IRError(f"{self.name}: an integer lif keeps its state in s16 or s32, "
                          f"not {', '.join(s.dtype.value for s in self.state)}")
        for v in (self.beta, self.threshold, self.alpha):
            if v is not None and v.dtype is not DType.s32:
                raise IRError(f"{self.name}: integer parameter {v.name} must be s32")
        if self.decay_mode is DecayMode.SHIFT:
            for v in (self.beta, self.alpha):
                if v is not None and (v.data.size != 1 or not 1 <= int(v.data.flat[0]) <= 30):
                    raise IRError(f"{self.name}: a shift decay is one k in [1, 30] per layer")
        else:
            for v in (self.beta, self.alpha):
                if v is not None and not np.all((v.data >= 0) & (v.data <= Q15_ONE)):
                    raise IRError(f"{self.name}: Q15 decay factors lie in [0, 2^15]")
        if self.w_rec is not None and self.w_rec.dtype is not DType.s8:
            raise IRError(f"{self.name}: integer recurrent weights are s8")
        return [(x.shape, DType.u1 if self.fires else mem)]

    def macs(self) -> int:
        rec = self.neurons if self.recurrent else 0
        return (self.current.size // self.neurons) * self.neurons * (1 + rec)

    # -- the step ----------------------------------------------------------------------------
    def ref(self, xs, state):
        if self.current.dtype is DType.f32:
            return self._float(xs, state)
        return self._integer(xs, state)

    def _float(self, xs, state):
        i, beta, thr = (np.asarray(a, np.float32) for a in xs[:3])
        mem_prev = state[-1]
        r = (mem_prev > thr).astype(np.float32) if self.fires else np.zeros_like(mem_prev)
        d = i
        if self.recurrent:
            d = d + r @ xs[-1].T.astype(np.float32)
        if self.synaptic:
            syn = (xs[3].astype(np.float32) * state[0] + d).astype(np.float32)
            d = syn
        if self.reset is Reset.SUBTRACT:
            mem = beta * mem_prev + d - r * thr
        elif self.reset is Reset.ZERO:
            mem = beta * (1 - r) * mem_prev + d
        else:
            mem = beta * mem_prev + d
        mem = mem.astype(np.float32)
        new = [syn, mem] if self.synaptic else [mem]
        out = (mem > thr).astype(np.float32) if self.fires else mem
        return [out], new

    def _decay(self, v: np.ndarray, factor: np.ndarray) -> np.ndarray:
        if self.decay_mode is DecayMode.SHIFT:
            return decay_shift(v, int(factor.flat[0]))
        return decay_q15(v, factor)

    def _integer(self, xs, state):
        i, thr = np.asarray(xs[0], np.int64), np.asarray(xs[2], np.int64)
        lo, hi = self.membrane.qmin, self.membrane.qmax
        mem_prev = state[-1].astype(np.int64)
        r = (mem_prev > thr).astype(np.int64) if self.fires else np.zeros_like(mem_prev)
        d = i
        if self.recurrent:
            d = d + r @ xs[-1].astype(np.int64).T
        new = []
        if self.synaptic:
            d = np.clip(self._decay(state[0], np.asarray(xs[3])) + d, lo, hi)
            new.append(d.astype(self.membrane.np))
        if self.reset is Reset.ZERO:
            mem_prev = np.where(r == 1, 0, mem_prev)
        mem = self._decay(mem_prev, np.asarray(xs[1])) + d  # beta
        if self.reset is Reset.SUBTRACT:
            mem = mem - r * thr
        mem = np.clip(mem, lo, hi)
        new.append(mem.astype(self.membrane.np))
        out = (mem > thr).astype(np.uint8) if self.fires else mem.astype(self.membrane.np)
        return [out], new
