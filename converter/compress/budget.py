"""Mixed precision under a flash budget: per-layer weight bits chosen by integer programming.

Each weighted layer ``l`` takes one candidate ``k`` (a weight dtype: ``DType.s8``, ``DType.s4``,
and ``DType.s2`` where the quantizer has it; ``candidates`` is a parameter). The caller measures,
for every single-layer change from the all-first-candidate plan ``P0``:

    bytes[l, k] = size(P0 with l at k) - size(P0)     size: the flash the C target's constants
                                                      take (weights as stored, biases, records)
    loss[l, k]  = error(P0 with l at k) - error(P0)   error: output MSE against float on
                                                      calibration data (measured loss change)

and the plan minimising ``sum loss`` subject to ``size(P0) + sum bytes <= budget`` and one
candidate per layer is solved exactly as a 0/1 integer program (``scipy.optimize.milp``, HiGHS).
Both measures are additive over layers as long as each layer's arrays are its own (the size
exactly; the error to first order, as in HAWQ and AdaQuant). A budget below the smallest plan
(every layer at its smallest candidate) raises ``BudgetError`` with both figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..ir import DType

Plan = dict[str, DType]


class BudgetError(ValueError):
    """A flash budget no plan meets (the message says by how much and the smallest size)."""


@dataclass
class LayerChoice:
    name: str
    dtype: DType
    bytes: int  # change of the size from the first candidate (<= 0 for fewer bits)
    loss: float  # change of the error from the first candidate


@dataclass
class BudgetPlan:
    """The chosen per-layer dtypes, their predicted and measured sizes, and the options table."""

    budget: int
    plan: Plan
    base_bytes: int  # size with every layer at the first candidate
    predicted_bytes: int
    predicted_loss: float
    table: list[LayerChoice]  # every (layer, candidate) measured, chosen or not

    def format(self) -> str:
        """The plan as a table: layer, chosen bits, bytes and loss change of each candidate."""
        cands = list(dict.fromkeys(c.dtype for c in self.table))
        head = ["layer", "chosen", *[f"{d.value} bytes / loss" for d in cands]]
        rows = []
        for name, dtype in self.plan.items():
            cells = [name, dtype.value]
            for d in cands:
                c = next((c for c in self.table if c.name == name and c.dtype is d), None)
                cells.append("-" if c is None else f"{c.bytes:+,} / {c.loss:+.3g}")
            rows.append(cells)
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"budget {self.budget:,} B: plan {self.predicted_bytes:,} B "
                     f"(all {cands[0].value}: {self.base_bytes:,} B), "
                     f"predicted loss change {self.predicted_loss:+.3g}")
        return "\n".join(lines)


def parse_size(text: str | int) -> int:
    """``20000``, ``"20000"``, ``"20KB"``/``"20K"`` (x1000), ``"20KiB"`` (x1024), ``"1MB"``."""
    if isinstance(text, int):
        return text
    t = str(text).strip().upper().replace(" ", "")
    units = {"KIB": 1024, "MIB": 1 << 20, "KB": 1000, "MB": 1000_000, "K": 1000, "M": 1000_000,
             "B": 1}
    for u, f in units.items():
        if t.endswith(u) and t[:-len(u)]:
            try:
                return round(float(t[:-len(u)]) * f)
            except ValueError:
                break
    try:
        return int(t)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a size (e.g. 20000, 20KB, 16KiB)") from None


def plan_budget(layers: Sequence[str], budget: int, candidates: Sequence[DType],
                measure: Callable[[Plan], tuple[int, float]]) -> BudgetPlan:
    """The plan of least predicted loss whose size fits ``budget`` bytes.

    ``layers``: the weighted layer names; ``candidates``: weight dtypes, the first the reference
    (usually ``DType.s8``); ``measure(plan) -> (bytes, error)`` for a full plan."""
    if not layers:
        raise BudgetError("the model has no weighted layers to choose bit-widths for")
    if not candidates:
        raise BudgetError("no candidate weight dtypes")
    budget = int(budget)
    base = {name: candidates[0] for name in layers}
    base_bytes, base_err = measure(base)
    table: list[LayerChoice] = []
    for name in layers:
        table.append(LayerChoice(name, candidates[0], 0, 0.0))
        for d in candidates[1:]:
            b, e = measure({**base, name: d})
            table.append(LayerChoice(name, d, b - base_bytes, e - base_err))
    return solve(layers, budget, base_bytes, table)


def solve(layers: Sequence[str], budget: int, base_bytes: int,
          table: Sequence[LayerChoice]) -> BudgetPlan:
    """The exact 0/1 integer program over ``table`` (see the module docstring)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    smallest = base_bytes + sum(min(c.bytes for c in table if c.name == n) for n in layers)
    if smallest > budget:
        raise BudgetError(
            f"flash budget {budget:,} B cannot be met: the smallest plan (every layer at its "
            f"fewest bits) takes {smallest:,} B, {smallest - budget:,} B over "
            f"({base_bytes:,} B at {table[0].dtype.value} everywhere)")
    n = len(table)
    cost = np.array([c.loss for c in table], np.float64)
    one = np.array([[1.0 if c.name == name else 0.0 for c in table] for name in layers])
    size = np.array([[float(c.bytes) for c in table]])
    cons = [LinearConstraint(one, 1, 1), LinearConstraint(size, -np.inf, budget - base_bytes)]
    res = milp(cost, constraints=cons, integrality=np.ones(n), bounds=Bounds(0, 1))
    if res.x is None:  # cannot happen once the smallest plan fits; kept as a clear message
        raise BudgetError(f"no plan fits {budget:,} B ({res.message})")
    pick = [table[i] for i in range(n) if res.x[i] > 0.5]
    plan = {c.name: c.dtype for c in sorted(pick, key=lambda c: list(layers).index(c.name))}
    return BudgetPlan(budget, plan, base_bytes, base_bytes + sum(c.bytes for c in pick),
                      float(sum(c.loss for c in pick)), list(table))


def budget_candidates(available: Mapping[DType, object] | Sequence[DType]) -> list[DType]:
    """The default candidates: 8, 4 and 2 bits, those of them the quantizer produces."""
    return [d for d in (DType.s8, DType.s4, getattr(DType, "s2", None)) if d in available]


ERROR_SAMPLES = 128  # calibration samples the output error is measured on


def budget_plan(fgraph, calib: tuple[np.ndarray, ...], budget: int,
                project: Callable[[object, Plan], object], progress: bool = False,
                candidates: Sequence[DType] | None = None) -> BudgetPlan:
    """The plan for the float graph ``fgraph`` (``project(graph, plan)`` makes the converted
    Project of a plan; its C constants are the size, the mean squared error of its dequantized
    outputs against ``fgraph``'s on ``calib`` (IR layout) the error). The plan's table is
    printed when ``progress``."""
    from ..quantize.params import WEIGHT_QMAX
    from ..reference import run

    cands = list(candidates) if candidates is not None else budget_candidates(WEIGHT_QMAX)
    xs = [np.asarray(a, np.float32)[:ERROR_SAMPLES] for a in calib]
    want, _ = run(fgraph, xs)
    layers = [n.name for n in fgraph.nodes if n.weight_axis is not None]

    def measure(plan: Plan) -> tuple[int, float]:
        proj = project(fgraph, plan)
        g = proj.graph
        qx = [v.quant.quantize(x, v.dtype) for v, x in zip(g.inputs, xs, strict=True)]
        got, _ = run(g, qx)
        err = sum(float(np.mean((v.quant.dequantize(y).astype(np.float64) - w) ** 2))
                  for v, y, w in zip(g.outputs, got, want, strict=True))
        return int(proj.sources().const_bytes), err

    result = plan_budget(layers, budget, cands, measure)
    size, _ = measure(result.plan)
    if size != result.predicted_bytes:  # the layers' arrays were not independent after all
        raise BudgetError(f"plan {result.plan} takes {size:,} B, predicted "
                          f"{result.predicted_bytes:,} B")
    if progress:
        print(result.format())
    return result
