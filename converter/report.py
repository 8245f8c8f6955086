"""Sizes and work of a converted model: per-layer table and totals.

``weight_bytes`` counts the constant tensors of the model (weights, biases, tables) as stored,
in their encoding (``Value.nbytes``: packed int4 weights take half a byte each);
``const_bytes`` adds the per-channel requantization tables the C target keeps in flash beside
them. ``arena_bytes`` is the planned static arena (intermediates only: input and output live in
the caller's buffers); ``arena_lower_bound`` the largest set of simultaneously live buffers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .ir import Graph
from .plan import MemoryPlan, plan_memory

if TYPE_CHECKING:
    from .project import Project


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def layer_rows(graph: Graph, plan: MemoryPlan | None = None) -> list[dict[str, object]]:
    plan = plan or plan_memory(graph)
    rows = []
    for t, n in enumerate(graph.nodes):
        rows.append({
            "name": n.name,
            "op": n.kind,
            "dtype": n.y.dtype.value,
            "inputs": [_shape(v.shape) for v in n.inputs if not v.is_const],
            "output": ",".join(_shape(v.shape) for v in n.outputs),
            "macs": n.macs(),
            "weight_bytes": sum(v.nbytes for v in n.inputs if v.is_const),
            "arena_live_bytes": plan.live_bytes(t),
        })
    return rows


def build_report(project: Project) -> dict[str, object]:
    g = project.graph
    src = project.sources()
    plan = src.plan
    layers = layer_rows(g, plan)
    consts = {id(v): v for n in g.nodes for v in n.inputs if v.is_const}
    return {
        "name": project.name,
        "layers": layers,
        "macs": sum(r["macs"] for r in layers),
        "weight_bytes": sum(v.nbytes for v in consts.values()),
        "const_bytes": src.const_bytes,
        "arena_bytes": plan.arena_size,
        "arena_lower_bound": plan.lower_bound,
        "arena_optimal": plan.optimal,
        "state_bytes": plan.state_size,
        "input_bytes": sum(v.nbytes for v in g.inputs),
        "output_bytes": sum(v.nbytes for v in g.outputs),
    }


def format_table(report: dict[str, object]) -> str:
    """The per-layer table as aligned text, with totals."""
    head = ("layer", "op", "in", "out", "MACs", "weights B", "live B")
    rows = [(r["name"], f"{r['op']} {r['dtype']}", ",".join(r["inputs"]), r["output"],
             f"{r['macs']:,}", f"{r['weight_bytes']:,}", f"{r['arena_live_bytes']:,}")
            for r in report["layers"]]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    right = {4, 5, 6}

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    out = [line(head), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out.append("")
    out.append(f"MACs {report['macs']:,} | weights {report['weight_bytes']:,} B "
               f"(+ {report['const_bytes'] - report['weight_bytes']:,} B requantization tables) | "
               f"arena {report['arena_bytes']:,} B (lower bound {report['arena_lower_bound']:,} B) | "
               f"input {report['input_bytes']:,} B, output {report['output_bytes']:,} B")
    return "\n".join(out)
