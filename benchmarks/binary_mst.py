"""Instructions of binary layers on an emulated Cortex-M4 (qemu-mps2-an386) with the plain
kernels (weights stored ``PackedRows``: ff_dense_b1, the 32-output block kernel of
ff_bnn_dense.c, and ff_conv2d_b1, a row kernel) against MST channel reuse
(``MSTRows``: ff_bnn_mst.h, a channel computed from a similar channel's mismatch by the words
where their weights differ; converter/mst_tree.py). Per layer: the weight words each kernel
reads per input row (or output pixel), its instructions (the layer's span in a profile build,
counted by firmforge's QEMU plugin, first vector) with the plain kernel, with the MST kernel
computing every channel fully (its loop structure alone) and with the MST kernel reusing; the
saving against the plain kernel and the part reuse itself saves; the flash of the weights and
what ``mst_reuse`` (``convert(..., mst=True)``) decides. Exits non-zero when any output
differs from the reference.

(a) a binary MLP 784-256-256-128-10 (BinaryLinear, batch norms) trained briefly with
    ``train_binary`` on the shared MNIST split (FIRMFORGE_SHARED/data/mnist; skipped when
    absent), converted; each binary layer measured in the whole converted model.
(b) synthetic layers of controlled similarity: channels drawn from a few random prototypes
    with a fraction of their bits flipped, and random channels. Dense 512 -> 128 and a 3x3
    convolution 64 -> 64 channels on an 8x8 image (padding 1, pad_value +1), b1 outputs.

    .venv/bin/python benchmarks/binary_mst.py [--board qemu-mps2-an386] [--epochs 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmforge.converter.encoding import PackedRows, encode
from firmforge.converter.ir import DType, Graph, QuantParams, Value, const, make_node
from firmforge.converter.mst_tree import FULL, MSTRows, ReuseTree, channel_rows, reuse_tree
from firmforge.converter.ops.binary import B1_QUANT, Binarize, BinaryConv2d, BinaryDense
from firmforge.converter.ops.common import Padding
from firmforge.converter.passes.mst_reuse import mst_reuse
from firmforge.converter.project import Project
from firmforge.targets.c.backend import CBackend

FLIPS = (0.001, 0.005, 0.02, 0.05)
PROTOTYPES = 4


class Mismatch(SystemExit):
    pass


class NoReuse(MSTRows):
    """MSTRows with every channel computed fully: the MST kernels' own cost without reuse
    (their loop structure differs from the plain kernels': a conv gathers each pixel's taps
    once for all channels)."""

    def tree(self, rows: np.ndarray) -> ReuseTree:
        o, w = rows.shape
        return ReuseTree(np.arange(o), np.full(o, FULL), w, np.full(o, w))


def similar(rng: np.random.Generator, shape: tuple[int, ...], flip: float | None) -> np.ndarray:
    """+-1 channels: a few flips from PROTOTYPES random prototypes, or random (flip None)."""
    if flip is None:
        return np.where(rng.random(shape) < 0.5, -1, 1).astype(np.int8)
    protos = np.where(rng.random((PROTOTYPES, *shape[1:])) < 0.5, -1, 1)
    w = protos[rng.integers(0, PROTOTYPES, shape[0])]
    return np.where(rng.random(shape) < flip, -w, w).astype(np.int8)


def layer_graph(w: np.ndarray, rng: np.random.Generator) -> Graph:
    """x s8 -> sign -> the binary layer of ``w`` (b1 out) -> a plain binary dense layer with
    s8 outputs that shows the layer's bits (output 0: their sum S, output c + 1: S - 2 y[c])."""
    o = w.shape[0]
    conv = w.ndim == 4
    shape = (1, 8, 8, w.shape[-1]) if conv else (1, w.shape[1])
    c = shape[-1]
    x = Value("x", shape, DType.s8, QuantParams.per_tensor(0.05, 0))
    sign = make_node(Binarize, "sign", [x, const("t0", np.zeros(c, np.int32), DType.s32),
                                        const("f0", np.zeros(c, np.uint8), DType.u1)], ["xb"])
    sign.outputs[0].quant = B1_QUANT
    wv = const("w", w, DType.b1, QuantParams(np.ones(o, np.float32), np.zeros(o, np.int64), 0))
    taps = w.size // o
    t = const("t", rng.integers(-taps // 8, taps // 8 + 1, o).astype(np.int32), DType.s32)
    attrs = dict(padding=Padding(1, 1, 1, 1), pad_value=1) if conv else {}
    layer = make_node(BinaryConv2d if conv else BinaryDense, "layer", [sign.outputs[0], wv, t],
                      ["y"], **attrs)
    layer.outputs[0].quant = B1_QUANT
    r = np.ones((o + 1, o), np.int8)
    r[np.arange(1, o + 1), np.arange(o)] = -1
    rw = const("rw", r, DType.b1, QuantParams(np.ones(o + 1, np.float32),
                                               np.zeros(o + 1, np.int64), 0))
    reader = BinaryDense(name="read", inputs=[layer.outputs[0], rw, const(
        "rb", np.zeros(o + 1, np.int32), DType.s32)], outputs=[])
    reader.outputs = [Value("out", (*layer.outputs[0].shape[:-1], o + 1), DType.s8,
                            QuantParams.per_tensor(1.0, 0))]
    for v in (wv, rw):
        v.encoding = PackedRows()
    g = Graph("mst_bench", [sign, layer, reader], [x], reader.outputs)
    g.validate()
    return g


def stored(g: Graph, names: set[str], enc) -> Graph:
    """A copy of ``g`` whose layers ``names`` store their weights ``enc``."""
    g = g.copy()
    for n in g.nodes:
        if n.name in names:
            n.inputs[1].encoding = enc
    return g


def profile(g: Graph, board: str, out: Path, xs: np.ndarray) -> dict[str, int]:
    """Instructions per layer of the first vector; exits when an output differs."""
    res = Project(g.name, g).build(board, out, xs, profile=True).run()
    if not res.equal:
        raise Mismatch(f"{g.name}: firmware output != reference")
    return {lay.name: lay.count for lay in res.profile.layers}


def compare(label: str, g: Graph, names: list[str], board: str, out: Path,
            xs: np.ndarray) -> None:
    """One table row per layer in ``names``: plain row kernel against MST reuse."""
    plain = profile(stored(g, set(names), PackedRows()), board, out / "plain", xs)
    mst = profile(stored(g, set(names), MSTRows()), board, out / "mst", xs)
    alone = profile(stored(g, set(names), NoReuse()), board, out / "alone", xs)
    chosen = mst_reuse(stored(g, set(names), PackedRows()), CBackend().runs)
    by_name = {n.name: n for n in g.nodes}
    taken = {n.name for n in chosen.nodes if n.inputs[1:] and n.inputs[1].encoding == MSTRows()}
    for name in names:
        w = by_name[name].inputs[1]
        tree = reuse_tree(channel_rows(w.data))
        a, b, c = plain[name], mst[name], alone[name]
        print(f"| {label} | {name} {list(w.shape)} | {tree.plain_words:,} | {tree.words_read:,} "
              f"| {tree.reused}/{w.shape[0]} | {a:,} | {c:,} | {b:,} | {100 * (a - b) / a:+.1f}% "
              f"| {100 * (c - b) / c:+.1f}% | "
              f"{encode(w.data, DType.b1, PackedRows()).nbytes:,} / "
              f"{encode(w.data, DType.b1, MSTRows()).nbytes:,} | "
              f"{'mst' if name in taken else 'declines'} |", flush=True)


def trained_mlp(epochs: int):
    """The briefly trained binary MLP converted (None when MNIST is absent), with vectors."""
    import torch
    from torch import nn

    from firmforge.converter import convert
    from firmforge.converter.compress.binary import train_binary
    from firmforge.converter.nn import BinaryLinear

    from examples.mnist import load_split, shared_dir

    if not (shared_dir() / "data" / "mnist").is_dir():
        return None
    x_tr, y_tr, x_te, y_te = load_split(shared_dir())
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(784),
                          BinaryLinear(784, 256), nn.BatchNorm1d(256),
                          BinaryLinear(256, 256), nn.BatchNorm1d(256),
                          BinaryLinear(256, 128), nn.BatchNorm1d(128), nn.Linear(128, 10))
    train_binary(model, x_tr, y_tr, epochs=epochs, lr=3e-3, progress=False)
    with torch.no_grad():
        acc = float((model(torch.from_numpy(x_te)).argmax(1).numpy() == y_te).mean())
    proj = convert(model, calibration=x_tr[:500], name="bmlp", progress=False)
    return proj, acc, x_te[:2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", default="qemu-mps2-an386")
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    print(f"Binary layers on {args.board}: plain row kernel vs MST channel reuse, instructions "
          "of the layer (first vector)")
    print()
    print("| weights | layer | words plain | words mst | reused | instr plain | instr mst kernel, "
          "no reuse | instr mst | saving vs plain | saving by reuse | flash plain / mst (B) | "
          "pass |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        got = trained_mlp(args.epochs)
        if got is None:
            print("| trained MLP | (MNIST absent: skipped) |")
        else:
            proj, acc, xte = got
            names = [n.name for n in proj.graph.nodes if n.kind == "binarydense"]
            xs = proj.prepare_inputs([xte])[0][0]
            compare(f"MNIST MLP ({acc:.1%})", proj.graph, names, args.board, out / "mlp", xs)
        for shape in ((128, 512), (64, 3, 3, 64)):
            for flip in (*FLIPS, None):
                w = similar(rng, shape, flip)
                g = layer_graph(w, rng)
                xs = rng.integers(-128, 128, (2, *g.inputs[0].shape[1:])).astype(np.int8)
                label = "random" if flip is None else f"{PROTOTYPES} prototypes, {flip:.1%} flips"
                compare(label, g, ["layer"], args.board, out / f"{len(shape)}_{flip}", xs)


if __name__ == "__main__":
    main()
