"""Instructions of one int8 Dense layer on an emulated Cortex-M4 (qemu-mps2-an386) with its
weights stored dense, CSR, bitmask, N:M, block CSR and as a codebook, at 0%, 50%, 75%, 90% and
95% sparsity, against the dense int8 kernel of the same shape (ff_dense_s8_fast, the layer's kernel
when its weights are stored dense); with the bytes each format stores and the format
``convert()`` picks for those weights (``storage="auto"``, by size). Exits non-zero when any
output differs from the reference.

Shape: 512 inputs, 128 outputs (65,536 multiply-accumulates), one row. Unstructured sparsity
prunes each row to exactly the same count of nonzeros (random columns); the N:M formats get the
pattern of that sparsity (2:4, 1:4, 1:10, 1:20), their nonzeros at random slots of each group;
block CSR gets block-pruned weights (TF-MOT's ``block_size=(4, 1)``): exactly that fraction of
the 4-output x 1-input blocks zeroed, at random.
Instructions are counted by firmforge's QEMU plugin per inference (the whole run function: the
layer's kernel, its call and the model's entry), median of the vectors.

    .venv/bin/python benchmarks/sparse_speed.py [--shape 256x256] [--board qemu-mps2-an386]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter.encoding import CSR, NM, Bitmask, BlockCSR, Codebook, Dense, Encoding, encode
from firmforge.converter.ir import DType, Graph, QuantParams, Value, const
from firmforge.converter.ops.dense import Dense as DenseOp
from firmforge.converter.passes.storage import choose_storage
from firmforge.converter.project import Project
from firmforge.targets.c.backend import CBackend
from firmforge.targets.c.emit import lower

SPARSITY = (0.5, 0.75, 0.9, 0.95)
NM_OF = {0.5: (2, 4), 0.75: (1, 4), 0.9: (1, 10), 0.95: (1, 20)}
VECTORS = 2


def layer(w: np.ndarray, enc: Encoding, seed: int = 0) -> Graph:
    """A Dense of the weights ``w`` (out, in) stored ``enc``, int8 quantization of a trained
    layer's magnitudes (per-channel weight scales, an output scale near the sums' spread)."""
    o, k = w.shape
    rng = np.random.default_rng(seed)
    xq = QuantParams.per_tensor(0.04, -5)
    wq = QuantParams(rng.uniform(0.004, 0.006, o).astype(np.float32), np.zeros(o), 0)
    density = max(np.count_nonzero(w) / w.size, 1 / k)
    yq = QuantParams.per_tensor(0.04 * 0.005 * 60 * np.sqrt(k * density) * 2, 3)
    x = Value("x", (1, k), DType.s8, xq)
    wv = Value("w", (o, k), DType.s8, wq, w.astype(np.int8), enc)
    b = const("b", rng.integers(-3000, 3000, o).astype(np.int32), DType.s32)
    node = DenseOp(name="fc", inputs=[x, wv, b], outputs=[])
    node.outputs = [Value("y", s, d, yq) for s, d in node.infer()]
    g = Graph("fc", [node], [x], node.outputs)
    g.validate()
    return g


def weights(o: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Dense int8 weights of a trained layer's shape: roughly normal, none zero."""
    w = np.clip(np.round(rng.standard_normal((o, k)) * 40), -127, 127).astype(np.int64)
    w[w == 0] = 1
    return w


def pruned(w: np.ndarray, sparsity: float, rng: np.random.Generator) -> np.ndarray:
    o, k = w.shape
    keep = np.zeros_like(w, bool)
    for r in range(o):
        keep[r, rng.choice(k, k - round(k * sparsity), replace=False)] = True
    return w * keep


def nm_pruned(w: np.ndarray, n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    o, k = w.shape
    groups = -(-k // m)
    keep = np.zeros((o, groups * m), bool)
    slots = np.argsort(rng.random((o, groups, m)), axis=2)[..., :n]
    np.put_along_axis(keep.reshape(o, groups, m), slots, True, axis=2)
    return w * keep[:, :k]


def block_pruned(w: np.ndarray, sparsity: float, rng: np.random.Generator) -> np.ndarray:
    """``w`` with round(sparsity * blocks) of its 4x1 blocks (4 outputs, 1 input) zeroed."""
    o, k = w.shape
    groups = -(-o // 4)
    keep = np.ones(groups * k, bool)
    keep[rng.choice(keep.size, round(keep.size * sparsity), replace=False)] = False
    return w * np.repeat(keep.reshape(groups, k), 4, axis=0)[:o]


def clustered(w: np.ndarray, entries: int, rng: np.random.Generator) -> np.ndarray:
    table = np.sort(rng.choice(np.arange(-127, 128), entries, replace=False))
    return table[np.abs(w[..., None] - table).argmin(axis=-1)]


def measure(g: Graph, board: str, out: Path, xs: list[np.ndarray]) -> tuple[str, int]:
    proj = Project(g.name, g)
    res = proj.build(board, out, *xs).run()
    if not res.equal:
        raise SystemExit(f"{g.nodes[0].inputs[1].encoding}: firmware output != reference")
    return lower(g.nodes[0]).fn, res.instructions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="512x128", help="INxOUT (default 512x128)")
    ap.add_argument("--board", default="qemu-mps2-an386")
    args = ap.parse_args()
    k, o = (int(t) for t in args.shape.split("x"))
    rng = np.random.default_rng(0)
    w0 = weights(o, k, rng)
    xs = [rng.integers(-128, 128, (VECTORS, k)).astype(np.int8)]
    cases: list[tuple[str, float, np.ndarray, Encoding]] = [("dense", 0.0, w0, Dense())]
    for p in SPARSITY:
        wp = pruned(w0, p, rng)
        cases += [("csr", p, wp, CSR()), ("bitmask", p, wp, Bitmask())]
        n, m = NM_OF[p]
        cases.append((f"{n}:{m}", p, nm_pruned(w0, n, m, rng), NM(n, m)))
        cases.append(("block csr 4x1", p, block_pruned(w0, p, rng), BlockCSR()))
    for entries, bits in ((16, 4), (4, 2)):
        cases.append((f"codebook {entries}", 0.0, clustered(w0, entries, rng), Codebook(bits)))
    runs = CBackend().runs
    print(f"Dense {k} -> {o} int8 ({k * o:,} MACs) on {args.board}: instructions per inference")
    print()
    print("| weights | sparsity | kernel | instructions | x dense | instr / nonzero | "
          "stored bytes | auto picks |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, p, w, enc) in enumerate(cases):
            g = layer(w, enc)
            fn, instr = measure(g, args.board, Path(tmp) / str(i), xs)
            base = base or instr
            stored = encode(w, DType.s8, enc).nbytes
            auto = choose_storage(layer(w, Dense()), runs).nodes[0].inputs[1].encoding
            nz = max(1, int(np.count_nonzero(w)))
            print(f"| {name} | {p:.0%} | `{fn}` | {instr:,} | {instr / base:.2f} | "
                  f"{instr / nz:.2f} | {stored:,} | {auto} |")


if __name__ == "__main__":
    main()
