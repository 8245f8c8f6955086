"""MST channel reuse for binary layers (converter/mst_tree.py, encoding.MSTRows,
passes/mst_reuse.py, ff_bnn_mst.c): the stored tree gives back the weights exactly, the tree
is the cheapest plan, the C kernels equal the reference (the plain XNOR-popcount math) on the
host and in QEMU, and the pass takes the layers where reuse saves words and declines the
others."""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert, reference
from firmforge.converter.encoding import PackedRows, decode, encode
from firmforge.converter.ir import DType, Graph, IRError, QuantParams, Value, const, make_node
from firmforge.converter.mst_tree import FULL, MSTRows, channel_rows, reuse_tree, word_distances
from firmforge.converter.nn import BinaryLinear
from firmforge.converter.ops.binary import B1_QUANT, Binarize, BinaryConv2d, BinaryDense
from firmforge.converter.ops.common import Padding
from firmforge.converter.passes.mst_reuse import (
    DENSE_MIN_SAVING,
    MIN_SAVING,
    mst_reuse,
    reuse_plan,
)
from firmforge.targets.c.backend import CBackend
from firmforge.targets.c.native import run_native
from firmforge.targets.c.writer import generate

from cases import Row
from kernel_harness import check_row, check_row_on_board


def similar_weights(rng: np.random.Generator, shape: tuple[int, ...], prototypes: int,
                    flip: float) -> np.ndarray:
    """+-1 channels made from a few random prototypes with a fraction ``flip`` of bits flipped
    (the channel similarity reuse is for)."""
    protos = np.where(rng.random((prototypes, *shape[1:])) < 0.5, -1, 1)
    w = protos[rng.integers(0, prototypes, shape[0])]
    return np.where(rng.random(shape) < flip, -w, w).astype(np.int8)


def random_weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, -1, 1).astype(np.int8)


# -- the encoding and the tree --------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (7, 1), (40, 70), (33, 32), (64, 300), (24, 3, 3, 40),
                                   (9, 1, 5, 7), (5, 2, 2, 64)])
def test_mst_rows_decode_to_the_weights(shape):
    rng = np.random.default_rng(sum(shape))
    for w in (similar_weights(rng, shape, 3, 0.02), random_weights(rng, shape),
              np.repeat(random_weights(rng, (1, *shape[1:])), shape[0], axis=0)):
        e = encode(w, DType.b1, MSTRows())
        np.testing.assert_array_equal(decode(e), w)
        assert decode(e).dtype == np.int8


def test_mst_rows_store_only_the_differing_words():
    rng = np.random.default_rng(3)
    w = np.repeat(random_weights(rng, (1, 96)), 4, axis=0)  # 3 words per row
    w[1, 5] *= -1
    w[2, 40] *= -1
    w[2, 41] *= -1
    w[3] = random_weights(rng, (96,))
    e = encode(w, DType.b1, MSTRows())
    steps = e["steps"].data.reshape(-1, 4)
    assert steps[:, 1].tolist().count(FULL) == 2  # channel 0 and the random channel 3
    diffs = e["diffs"].data.reshape(-1, 3)
    assert diffs.shape == (2, 3) and sorted(diffs[:, 0].tolist()) == [0, 1]
    by_word = {int(d[0]): d for d in diffs}
    assert by_word[0][1] == 1 << 5 and by_word[1][1] == 3 << 8  # D: the flipped bits
    assert sorted(steps[:, 3].tolist()) == [0, 0, 1, 2]  # |D| of each step


def test_mst_rows_refuse_other_dtypes_and_broken_arrays():
    with pytest.raises(IRError, match="b1"):
        encode(np.ones((2, 3), np.int8), DType.s8, MSTRows())
    rng = np.random.default_rng(4)
    w = similar_weights(rng, (12, 100), 2, 0.01)
    e = encode(w, DType.b1, MSTRows())
    diffs = e["diffs"].data.copy()
    diffs[2] ^= 1  # w & D no longer under D or no longer w's bits
    broken = type(e)(e.encoding, e.dtype, e.shape, (e["steps"], e["full"],
                                                    type(e["diffs"])("diffs", "uint32_t", diffs)))
    with pytest.raises(IRError, match="inconsistent"):
        decode(broken)
    steps = e["steps"].data.copy().reshape(-1, 4)
    steps[0, 0] = steps[1, 0]  # a channel twice
    broken = type(e)(e.encoding, e.dtype, e.shape,
                     (type(e["steps"])("steps", "int32_t", steps.reshape(-1)), e["full"],
                      e["diffs"]))
    with pytest.raises(IRError, match="inconsistent"):
        decode(broken)


def _brute_force_words(rows: np.ndarray) -> int:
    """The fewest words of any plan: each channel full (W) or from another channel (their
    differing words), the parents forming no cycle."""
    o, w = rows.shape
    d = word_distances(rows)
    best = o * w
    for parents in itertools.product(range(-1, o), repeat=o):
        if any(p == i for i, p in enumerate(parents)):
            continue
        acyclic = True
        for i in range(o):
            seen, j = set(), i
            while j != -1 and acyclic:
                acyclic = j not in seen
                seen.add(j)
                j = parents[j]
        if acyclic:
            best = min(best, sum(w if p == -1 else int(d[i, p]) for i, p in enumerate(parents)))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_reuse_tree_reads_the_fewest_words_of_any_plan(seed):
    rng = np.random.default_rng(seed)
    w = similar_weights(rng, (5, 160), 2, float(rng.choice([0.005, 0.02, 0.05])))
    rows = channel_rows(w)
    tree = reuse_tree(rows)
    assert tree.words_read == _brute_force_words(rows)
    pos = {int(c): s for s, c in enumerate(tree.order)}
    for c, p in enumerate(tree.parent):  # parents first, each channel's words as counted
        assert p == FULL or pos[int(p)] < pos[c]
        want = rows.shape[1] if p == FULL else int(np.count_nonzero(rows[c] != rows[p]))
        assert tree.words[c] == want < rows.shape[1] or (p == FULL and tree.words[c] == want)


# -- graphs: s8 -> sign -> binary layer (stored MSTRows) -> s8 ---------------------------------

def _reader(y: Value, name: str) -> BinaryDense:
    """A plain binary dense layer that makes a b1 output visible as int8, losing nothing: output
    0 is the sum S of y's O values, output c + 1 is S - 2 y[c] (all +1 weights, but -1 at c)."""
    o = y.shape[-1]
    r = np.ones((o + 1, o), np.int8)
    r[np.arange(1, o + 1), np.arange(o)] = -1
    w = const(f"{name}_rw", r, DType.b1, QuantParams(np.ones(o + 1, np.float32),
                                                      np.zeros(o + 1, np.int64), 0))
    w.encoding = PackedRows()
    node = BinaryDense(name=f"{name}_read", inputs=[y, w, const(
        f"{name}_rb", np.zeros(o + 1, np.int32), DType.s32)], outputs=[])
    node.outputs = [Value(f"{name}_out", (*y.shape[:-1], o + 1), DType.s8,
                          QuantParams.per_tensor(1.0, 0))]
    return node


def binary_graph(rng: np.random.Generator, w: np.ndarray, out: DType, x_shape: tuple[int, ...],
                 **conv) -> Graph:
    """x s8 -> Binarize -> the binary layer of weights ``w`` stored MSTRows, with s8 output
    or with b1 output made visible by ``_reader``."""
    o = w.shape[0]
    x = Value("x", x_shape, DType.s8, QuantParams.per_tensor(0.05, 0))
    c = x_shape[-1]
    sign = make_node(Binarize, "sign", [x, const("t0", rng.integers(-20, 20, c).astype(np.int32),
                                                 DType.s32),
                                        const("f0", (rng.random(c) < 0.3).astype(np.uint8),
                                              DType.u1)], ["xb"])
    sign.outputs[0].quant = B1_QUANT
    alpha = rng.uniform(0.5, 2, o).astype(np.float32)
    wv = const("w", w, DType.b1, QuantParams(alpha, np.zeros(o, np.int64), 0))
    wv.encoding = MSTRows()
    taps = w.size // o
    t = rng.integers(-taps // 3 - 1, taps // 3 + 2, o).astype(np.int32)
    cls = BinaryConv2d if conv else BinaryDense
    layer = cls(name="layer", inputs=[sign.outputs[0], wv, const("t", t, DType.s32)],
                outputs=[], **conv)
    shape = layer.infer()[0][0]
    if out is DType.b1:
        layer.outputs = [Value("y", shape, DType.b1, B1_QUANT)]
        nodes = [sign, layer, _reader(layer.outputs[0], "r")]
    else:
        scale = float(np.sqrt(taps)) / 40
        layer.outputs = [Value("y", shape, DType.s8, QuantParams.per_tensor(
            scale, int(rng.integers(-20, 20))))]
        nodes = [sign, layer]
    g = Graph("mst", nodes, [x], [nodes[-1].outputs[0]])
    g.validate()
    return g


def _weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Similar channels three times in four (few or many flips), random ones otherwise."""
    if rng.random() < 0.25:
        return random_weights(rng, shape)
    return similar_weights(rng, shape, int(rng.integers(1, 5)),
                           float(rng.choice([0.002, 0.01, 0.03, 0.1])))


def dense_case(out: DType):
    def build(rng: np.random.Generator) -> Graph:
        k, o = int(rng.integers(1, 400)), int(rng.integers(1, 100))
        rows = int(rng.integers(1, 3))
        return binary_graph(rng, _weights(rng, (o, k)), out, (1, rows, k))
    return build


def conv_case(out: DType):
    def build(rng: np.random.Generator) -> Graph:
        c, o = int(rng.integers(1, 80)), int(rng.integers(1, 70))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        h, w = int(rng.integers(kh, 8)), int(rng.integers(kw, 8))
        pads = [int(v) for v in rng.integers(0, 2, 4)]
        return binary_graph(rng, _weights(rng, (o, kh, kw, c)), out, (1, h, w, c),
                            stride=(int(rng.integers(1, 3)), int(rng.integers(1, 3))),
                            dilation=(1, int(rng.integers(1, 3))) if w > 2 * kw else (1, 1),
                            padding=Padding(*pads), pad_value=int(rng.integers(-1, 2)))
    return build


ROWS = [Row("mst_dense_b1", dense_case(DType.b1), count=20),
        Row("mst_dense_s8", dense_case(DType.s8), count=15),
        Row("mst_conv_b1", conv_case(DType.b1), count=20),
        Row("mst_conv_s8", conv_case(DType.s8), count=10)]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_mst_kernels_equal_the_reference_on_host(row):
    check_row(row)


@pytest.mark.parametrize("board", ["qemu-mps2-an386", "qemu-riscv32-virt"])
@pytest.mark.parametrize("row", ROWS, ids=str)
def test_mst_kernels_on_emulated_boards(row, board, tmp_path):
    check_row_on_board(row, board, tmp_path, count=3)


# -- the pass ---------------------------------------------------------------------------------

def _plain_graph(w: np.ndarray, rng: np.random.Generator, out: DType = DType.b1,
                 **conv) -> Graph:
    shape = (1, 6, 6, w.shape[-1]) if conv else (1, w.shape[1])
    g = binary_graph(rng, w, out, shape, **conv)
    g.nodes[1].inputs[1].encoding = PackedRows()
    return g


def test_pass_stores_similar_channels_as_mst_rows_and_declines_random_ones():
    rng = np.random.default_rng(11)
    runs = CBackend().runs
    similar = _plain_graph(similar_weights(rng, (64, 256), 4, 0.001), rng)
    taken = mst_reuse(similar, runs)
    assert taken.nodes[1].inputs[1].encoding == MSTRows()
    assert similar.nodes[1].inputs[1].encoding == PackedRows()  # the input graph is untouched
    tree = reuse_plan(taken.nodes[1])
    assert tree.words_read <= tree.plain_words * (1 - DENSE_MIN_SAVING) and tree.reused >= 56
    # a dense layer 1% of whose bits differ saves a conv's share of words, not a dense one's
    some = _plain_graph(similar_weights(rng, (64, 256), 4, 0.01), rng)
    tree = reuse_plan(some.nodes[1])
    assert tree.plain_words * (1 - DENSE_MIN_SAVING) < tree.words_read \
        <= tree.plain_words * (1 - MIN_SAVING)
    assert mst_reuse(some, runs).nodes[1].inputs[1].encoding == PackedRows()
    assert mst_reuse(some, runs, min_saving=MIN_SAVING).nodes[1].inputs[1].encoding == MSTRows()
    conv = _plain_graph(similar_weights(rng, (32, 3, 3, 64), 2, 0.005), rng, padding=Padding(
        1, 1, 1, 1))
    assert mst_reuse(conv, runs).nodes[1].inputs[1].encoding == MSTRows()
    for w in (random_weights(rng, (64, 256)), random_weights(rng, (16, 3, 3, 64))):
        g = _plain_graph(w, rng, **({} if w.ndim == 2 else {"padding": Padding()}))
        tree = reuse_plan(g.nodes[1])
        assert tree.reused == 0 and tree.words_read == tree.plain_words
        assert mst_reuse(g, runs).nodes[1].inputs[1].encoding == PackedRows()
    # the reader layer's rows (2 words) are one bit from its all +1 row 0: half the words,
    # no saving against the dense block kernel
    reader = reuse_plan(taken.nodes[2])
    assert taken.nodes[2].inputs[1].encoding == PackedRows()
    assert (reader.plain_words, reader.words_read, reader.reused) == (130, 2 + 64, 64)


def test_pass_declines_a_small_saving_and_what_the_target_cannot_run():
    rng = np.random.default_rng(12)
    w = similar_weights(rng, (48, 320), 1, 0.06)  # most words differ: a small saving
    g = _plain_graph(w, rng)
    tree = reuse_plan(g.nodes[1])
    assert tree.words_read > tree.plain_words * (1 - DENSE_MIN_SAVING) and tree.reused > 0
    assert mst_reuse(g).nodes[1].inputs[1].encoding == PackedRows()
    assert mst_reuse(g, min_saving=0.0).nodes[1].inputs[1].encoding == MSTRows()
    similar = _plain_graph(similar_weights(rng, (48, 320), 2, 0.002), rng)
    assert mst_reuse(similar, lambda node, enc: False).nodes[1].inputs[1].encoding == \
        PackedRows()


def _similar_mlp() -> tuple[nn.Module, np.ndarray]:
    """A binary MLP whose first binary layer's channels are 0.1% of their bits from 3 prototypes and
    whose second is random, batch norms settled; with its calibration inputs."""
    torch.manual_seed(5)
    rng = np.random.default_rng(5)
    model = nn.Sequential(nn.Flatten(), BinaryLinear(144, 96), nn.BatchNorm1d(96),
                          BinaryLinear(96, 64), nn.BatchNorm1d(64), nn.Linear(64, 10))
    with torch.no_grad():
        model[1].weight.copy_(torch.from_numpy(similar_weights(rng, (96, 144), 3, 0.001)
                                               .astype(np.float32)))
        model[3].weight.copy_(torch.from_numpy(random_weights(rng, (64, 96)).astype(np.float32)))
    x = torch.rand(64, 1, 12, 12) - 0.5
    model.train()
    with torch.no_grad():
        model(x)
    return model.eval(), x.numpy()


def test_convert_with_mst_runs_the_reused_layers_bit_exactly():
    model, x = _similar_mlp()
    proj = convert(model, calibration=x, progress=False, mst=True)
    encodings = [n.inputs[1].encoding for n in proj.graph.nodes if n.kind == "binarydense"]
    assert encodings == [MSTRows(), PackedRows()]
    np.testing.assert_array_equal(proj.run_host(x), proj.reference(x))
    plain = convert(model, calibration=x, progress=False)
    assert all(n.inputs[1].encoding != MSTRows() for n in plain.graph.nodes
               if n.kind == "binarydense")
    np.testing.assert_array_equal(plain.run_host(x), proj.run_host(x))


def test_cli_convert_mst_flag(tmp_path):
    from click.testing import CliRunner

    from firmforge.converter.cli import main

    model, x = _similar_mlp()
    torch.save(model, tmp_path / "m.pt")
    np.save(tmp_path / "calib.npy", x)
    args = ["convert", str(tmp_path / "m.pt"), "--calib", str(tmp_path / "calib.npy"),
            "--no-progress"]
    for flag, out in (([], "plain"), (["--mst"], "mst")):
        res = CliRunner().invoke(main, [*args, *flag, "-o", str(tmp_path / out)])
        assert res.exit_code == 0, res.output
    weights = {out: "".join(p.read_text() for p in (tmp_path / out).glob("*_weights.c"))
               for out in ("plain", "mst")}
    assert "stored mst rows" in weights["mst"] and "stored mst rows" not in weights["plain"]


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_mst_kernels_are_sanitizer_clean(row):
    """Built under ASan and UBSan with the arena checked (tests/test_sanitizers.py): the
    mismatches and the gathered patch stay inside the layer's scratch."""
    rng = np.random.default_rng(zlib.crc32(b"asan" + row.name.encode()))
    for i in range(2):
        g = row.build(rng)
        xs = row.draw(rng, g, 2)
        want, _ = reference.run(g, xs)
        got = run_native(generate(g, f"{row.name}_{i}", check_arena=True), g, xs)
        for w, o in zip(want, got, strict=True):
            np.testing.assert_array_equal(o, w, err_msg=f"{row.name} case {i}")


def test_mst_mlp_on_atmega328p(tmp_path):
    """16-bit int and __flash constants: the reused layer on an ATmega328P in simavr."""
    model, x = _similar_mlp()
    proj = convert(model, calibration=x, progress=False, mst=True)
    assert any(n.inputs[1].encoding == MSTRows() for n in proj.graph.nodes
               if n.kind == "binarydense")
    res = proj.build("simavr-atmega328p", tmp_path, x[:2]).run(x[:2])
    np.testing.assert_array_equal(res.outputs, proj.reference(x[:2]))
