"""Sizes and work of a converted model: per-layer table and totals.

``weight_bytes`` counts the constant tensors of the model (weights, biases, tables) as stored,
in their encoding (``Value.nbytes``: packed int4 weights take half a byte each);
``const_bytes`` adds the per-channel requantization tables the C target keeps in flash beside
them. ``arena_bytes`` is the planned static arena (intermediates only: input and output live in
the caller's buffers); ``arena_lower_bound`` the largest set of simultaneously live buffers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .ir import Graph, Node
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


def weight_row(node: Node, fnode: Node | None) -> dict[str, object]:
    """Compression columns of a weighted node: storage format, weight bits, sparsity (zero
    weights), float32 bytes of its weights and bias, and the SQNR (dB) of its dequantized
    weights against the float ones (``fnode``, the float graph's node of that name)."""
    if node.weight_axis is None or not node.inputs[1].is_const:
        return {}
    w = node.inputs[1]
    consts = [v for v in node.inputs if v.is_const]
    row: dict[str, object] = {
        "format": str(w.encoding) if w.encoding is not None else "dense",
        "bits": w.dtype.bits,
        "sparsity": float(np.mean(np.asarray(w.data) == 0)),
        "float_bytes": 4 * sum(int(v.size) for v in consts),
        "sqnr_db": None,
    }
    if fnode is not None and w.quant is not None and fnode.inputs[1].is_const:
        wf = np.asarray(fnode.inputs[1].data, np.float64)
        if wf.shape == w.shape:
            shape = [1] * wf.ndim
            if w.quant.axis is not None and np.size(w.quant.scale) > 1:
                shape[w.quant.axis] = -1
            deq = np.asarray(w.data, np.float64) * np.asarray(w.quant.scale, np.float64).reshape(shape)
            noise = float(np.sum((wf - deq) ** 2))
            signal = float(np.sum(wf ** 2))
            row["sqnr_db"] = float("inf") if noise == 0 else 10 * np.log10(max(signal, 1e-300) / noise)
    return row


def build_report(project: Project) -> dict[str, object]:
    g = project.graph
    src = project.sources()
    plan = src.plan
    layers = layer_rows(g, plan)
    floats = {n.name: n for n in project.float_graph.nodes} if project.float_graph else {}
    for row, n in zip(layers, g.nodes, strict=True):
        row.update(weight_row(n, floats.get(n.name)))
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


def _compression_cells(r: dict[str, object]) -> tuple[str, ...]:
    if "format" not in r:
        return ("", "", "", "", "")
    sq = r["sqnr_db"]
    return (r["format"], str(r["bits"]), f"{r['sparsity'] * 100:.0f}%", f"{r['float_bytes']:,}",
            "-" if sq is None else f"{sq:.1f}")


def format_table(report: dict[str, object]) -> str:
    """The per-layer table as aligned text, with totals."""
    head = ("layer", "op", "in", "out", "MACs", "weights B", "live B", "format", "bits",
            "sparsity", "float B", "SQNR dB")
    rows = [(r["name"], f"{r['op']} {r['dtype']}", ",".join(r["inputs"]), r["output"],
             f"{r['macs']:,}", f"{r['weight_bytes']:,}", f"{r['arena_live_bytes']:,}",
             *_compression_cells(r))
            for r in report["layers"]]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    right = {4, 5, 6, 8, 9, 10, 11}

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
