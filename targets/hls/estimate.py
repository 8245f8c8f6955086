"""Resource and latency estimates per layer, before any vendor tool runs.

A first-order model of what the generated kernels ask for, so two reuse factors or two pruning
levels can be compared here; Vitis HLS synthesis (``build_prj.tcl``'s csynth) gives the real
numbers. With reuse factor R (each multiplier serves R products, the layer's pipeline starts
every R cycles):

    multipliers = ceil(M / R)     M: products by weights that are neither 0 (no hardware: the
                                  constant is propagated) nor +-2^k (a shift and maybe a negation)
    adders      = ceil(N / R)     N: nonzero weights (each feeds the adder tree)
    latency     = R * iterations + depth    iterations: rows or output pixels of the layer;
                                  depth: the multiply, the adder tree (ceil(log2 K)) and the
                                  requantization (REQUANT_CYCLES)
    weights     = bits of the weights, biases and requantization tables; in registers when
                  fully partitioned (R = 1) or small (<= REGISTER_BITS), else in BRAM18 blocks
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

REQUANT_CYCLES = 4  # 32x32 multiply, rounding, shift, clamp
REGISTER_BITS = 2048
BRAM18_BITS = 18 * 1024
NOTE = ("first-order estimates from the weights and the reuse factor; Vitis HLS synthesis "
        "(build_prj.tcl: csynth, then implementation) gives the real resource and timing numbers")


@dataclass
class LayerEstimate:
    layer: str
    op: str
    reuse: int
    multipliers: int
    adders: int
    shifts: int
    weight_bits: int
    weight_storage: str  # "registers", "bram" or "none"
    bram18: int
    latency_cycles: int

    def row(self) -> dict[str, object]:
        return asdict(self)


def is_pow2(a: np.ndarray) -> np.ndarray:
    """|a| is a power of two (1 included): a multiply by it is a shift."""
    m = np.abs(a.astype(np.int64))
    return (m > 0) & ((m & (m - 1)) == 0)


def storage(bits: int, reuse: int) -> tuple[str, int]:
    if bits == 0:
        return "none", 0
    if reuse == 1 or bits <= REGISTER_BITS:
        return "registers", 0
    return "bram", math.ceil(bits / BRAM18_BITS)


def mac_layer(layer: str, op: str, reuse: int, w2: np.ndarray, iterations: int,
              table_bits: int, w_bits: int, binary: bool = False) -> LayerEstimate:
    """A dense or convolution layer of weights ``w2`` (O, K), run ``iterations`` times."""
    nonzero = int(np.count_nonzero(w2))
    shifts = int(np.count_nonzero(is_pow2(w2))) if not binary else 0
    mults = 0 if binary else nonzero - shifts
    bits = w2.size * w_bits + table_bits
    where, bram = storage(bits, reuse)
    depth = 1 + math.ceil(math.log2(max(w2.shape[1], 2))) + REQUANT_CYCLES
    return LayerEstimate(layer, op, reuse, math.ceil(mults / reuse), math.ceil(nonzero / reuse),
                         shifts, bits, where, bram, reuse * iterations + depth)


def simple_layer(layer: str, op: str, reuse: int, iterations: int, depth: int = 2,
                 adders: int = 0, table_bits: int = 0, multipliers: int = 0) -> LayerEstimate:
    """A layer without a weight matrix (pools, elementwise, neurons)."""
    where, bram = storage(table_bits, reuse)
    return LayerEstimate(layer, op, reuse, math.ceil(multipliers / reuse),
                         math.ceil(adders / reuse), 0, table_bits, where, bram,
                         reuse * iterations + depth)


def totals(rows: list[LayerEstimate]) -> dict[str, object]:
    """The dict ``HlsProject.estimates``: per-layer rows and the totals (layers run one after
    the other, so latencies add)."""
    return {"layers": [r.row() for r in rows],
            "multipliers": sum(r.multipliers for r in rows),
            "adders": sum(r.adders for r in rows),
            "latency_cycles": sum(r.latency_cycles for r in rows),
            "weight_bits": sum(r.weight_bits for r in rows),
            "bram18": sum(r.bram18 for r in rows),
            "note": NOTE}
