"""Instructions of one binary dense layer (BinaryDense, XNOR-popcount, ``ff_dense_b1`` with b1
output and ``ff_dense_b1_s8`` with int8 output) against the int8 Dense layer of the same shape
(the dense int8 kernel ``convert()`` uses, built as in benchmarks/sparse_speed.py), on an
emulated Cortex-M4 (qemu-mps2-an386) by default. Exits non-zero when any output differs from
the reference.

The binary layer's count depends on how many of its inputs are +1: the kernel lists the +1
inputs (or the -1 inputs when more than half are +1), so exactly half is the worst case; 10%
and 90% of +1 are shown too. Each binary graph is int8 x -> Binarize -> BinaryDense; a b1
output is read through a second BinaryDense of 16 int8 outputs at scale 1, where any wrong bit
moves every output. Counts are the layer's own, from a profile build (its kernel call and one
layer mark: two instructions), of one inference; the int8 layer is counted the same way.

    .venv/bin/python benchmarks/binary_speed.py [--shapes 512x512,256x256,1024x128]
        [--board qemu-mps2-an386]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparse_speed import layer, weights

from firmforge.converter.encoding import Dense
from firmforge.converter.ir import DType, Graph, QuantParams, Value, const, make_node
from firmforge.converter.ops.binary import Binarize, BinaryDense
from firmforge.converter.project import Project
from firmforge.targets.c.emit import lower

PLUS = {"half +1 (worst)": 0.5, "10% +1": 0.1, "90% +1": 0.9}


def binary_dense(name: str, x: Value, o: int, out: DType, rng: np.random.Generator,
                 exact: bool = False) -> BinaryDense:
    """Random +-1 weights; b1: thresholds around the dots' spread; s8: per-channel weight
    scales of a trained layer (``exact``: scales 1 and output scale 1, y = dot + bias)."""
    k = x.shape[-1]
    w = np.where(rng.random((o, k)) < 0.5, 1, -1).astype(np.int8)
    scales = np.ones(o) if exact else rng.uniform(0.5, 2, o)
    wv = const(f"{name}_w", w, DType.b1,
               QuantParams(scales.astype(np.float32), np.zeros(o, np.int64), 0))
    if out is DType.b1:
        t = rng.integers(-int(np.sqrt(k)), int(np.sqrt(k)) + 1, o).astype(np.int32)
        return make_node(BinaryDense, name, [x, wv, const(f"{name}_t", t, DType.s32)],
                         [f"{name}_y"])
    b = const(f"{name}_b", rng.integers(-20, 21, o).astype(np.int32), DType.s32)
    node = BinaryDense(name=name, inputs=[x, wv, b], outputs=[])
    (shape, _), = node.infer()
    s_y = 1.0 if exact else float(np.sqrt(k) / 40)
    node.outputs = [Value(f"{name}_y", shape, DType.s8, QuantParams.per_tensor(s_y, 2))]
    return node


def binary_graph(k: int, o: int, out: DType, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    x = Value("x", (1, k), DType.s8, QuantParams.per_tensor(0.1, 0))
    sign = make_node(Binarize, "sign", [x, const("thr", np.zeros(k, np.int32), DType.s32),
                                        const("flip", np.zeros(k, np.uint8), DType.u1)], ["xb"])
    nodes = [sign, binary_dense("fc", sign.y, o, out, rng)]
    if out is DType.b1:
        nodes.append(binary_dense("readout", nodes[1].y, 16, DType.s8, rng, exact=True))
    g = Graph("bfc", nodes, [x], [nodes[-1].y])
    g.validate()
    return g


def signed_inputs(k: int, plus: float, rng: np.random.Generator) -> np.ndarray:
    """One int8 row with exactly round(plus * k) values >= 0 (+1 after the sign)."""
    x = rng.integers(-128, 0, (1, k))
    x[0, rng.permutation(k)[:round(plus * k)]] = rng.integers(0, 128, round(plus * k))
    return x.astype(np.int8)


def layer_count(g: Graph, node: int, board: str, out: Path, x: np.ndarray) -> int:
    """Instructions of ``g.nodes[node]`` in one inference, after checking the outputs."""
    res = Project(g.name, g).build(board, out, x, profile=True).run()
    if not res.equal:
        raise SystemExit(f"{g.name} {lower(g.nodes[node]).fn}: firmware output != reference")
    assert res.profile is not None
    return res.profile.layers[node].count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default="512x512,256x256,1024x128",
                    help="INxOUT,... (default 512x512,256x256,1024x128)")
    ap.add_argument("--board", default="qemu-mps2-an386")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"Binary vs int8 dense layers on {args.board}: instructions of the layer per inference")
    print()
    print("| shape | layer | inputs | kernel | instructions | instr / MAC | instr / 32 MACs | "
          "int8 / binary |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, shape in enumerate(args.shapes.split(",")):
            k, o = (int(t) for t in shape.split("x"))
            macs = k * o
            x8 = rng.integers(-128, 128, (1, k)).astype(np.int8)
            g8 = layer(weights(o, k, rng), Dense())
            base = layer_count(g8, 0, args.board, Path(tmp) / f"{i}_s8", x8)
            print(f"| {k}x{o} | int8 Dense | random int8 | `{lower(g8.nodes[0]).fn}` | {base:,} | "
                  f"{base / macs:.3f} | {32 * base / macs:.2f} | 1.00 |")
            for out in (DType.b1, DType.s8):
                g = binary_graph(k, o, out, seed=i)
                fn = lower(g.nodes[1]).fn
                for j, (label, plus) in enumerate(PLUS.items()):
                    x = signed_inputs(k, plus, rng)
                    n = layer_count(g, 1, args.board, Path(tmp) / f"{i}_{out.value}_{j}", x)
                    print(f"| {k}x{o} | BinaryDense, {out.value} out | {label} | `{fn}` | "
                          f"{n:,} | {n / macs:.3f} | {32 * n / macs:.2f} | {base / n:.2f} |")


if __name__ == "__main__":
    main()
