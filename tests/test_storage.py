"""Storage chosen per layer by size (converter/passes/storage.py): the smallest format the C
target runs, dense on near-ties, forced formats per layer through ``convert(storage=...)``, the
errors that name the layer, the report counting every stored array, and host C == reference for
the chosen formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.converter.convert import ConversionError
from firmforge.converter.encoding import CSR, NM, Bitmask, BlockCSR, Codebook, Dense, Packed, encode
from firmforge.converter.ir import DType, QuantParams, Value, const
from firmforge.converter.ops.dense import Dense as DenseOp
from firmforge.converter.passes.storage import (
    MIN_SAVING,
    StorageError,
    candidates,
    choose_storage,
    tie,
)
from firmforge.targets.backend import Backend
from firmforge.targets.c.backend import CBackend

from cases import single

RUNS = CBackend().runs


def _graph(w: np.ndarray, dtype: DType = DType.s8):
    o, k = w.shape
    xq = QuantParams.per_tensor(0.05, 3)
    wq = QuantParams(np.full(o, 0.01, np.float32), np.zeros(o), 0)
    enc = Packed() if dtype is DType.s4 else Dense()
    x = Value("x", (1, k), DType.s8, xq)
    return single(DenseOp, "fc", [x, Value("w", (o, k), dtype, wq, w.astype(np.int8), enc),
                                  const("b", np.arange(o, dtype=np.int32), DType.s32)],
                  QuantParams.per_tensor(0.3, -2))


def _chosen(w: np.ndarray, dtype: DType = DType.s8, storage="auto"):
    return choose_storage(_graph(w, dtype), RUNS, storage).nodes[0].inputs[1].encoding


def _pruned(shape, keep: float, seed: int = 0, lo: int = -127, hi: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.integers(lo, hi, shape)
    v[v == 0] = 1
    return v * (rng.random(shape) < keep)


def test_auto_takes_the_smallest_stored_format():
    # unpruned int8: dense (every sparse format and the codebook are larger)
    assert _chosen(_pruned((16, 64), 1.0)) == Dense()
    # 2:4 pattern: N:M indices (2 bits a slot) beat a bitmask's bit per weight and CSR
    w = _pruned((16, 64), 1.0).reshape(16, 16, 4)
    w[:, :, 2:] = 0
    assert _chosen(w.reshape(16, 64)) == NM(2, 4)
    # (one zero in each pair of columns is also 1:2, whose 1-bit indices are smaller still)
    w[:, :, [1, 3]], w[:, :, 2] = 0, 5
    assert _chosen(w.reshape(16, 64)) == NM(1, 2)
    # unstructured: CSR (a byte per nonzero, an int32 pointer per row) below a density of
    # 1/8 - 4/C, a bitmask (a bit per weight) above
    assert _chosen(_pruned((16, 256), 0.05)) == CSR()
    assert _chosen(_pruned((16, 64), 0.1)) == Bitmask()
    assert _chosen(_pruned((16, 64), 0.4)) == Bitmask()
    # 8 distinct values: a 3-bit codebook (4-bit fields) and an 8-entry table
    cb = np.random.default_rng(1).choice([-100, -7, -3, 0, 2, 9, 50, 127], (16, 64))
    assert _chosen(cb) == Codebook(3)
    # int4: packed unless pruned
    assert _chosen(_pruned((16, 64), 1.0, lo=-7, hi=8), DType.s4) == Packed()
    assert _chosen(_pruned((16, 256), 0.05, lo=-7, hi=8), DType.s4) == CSR()


def test_every_chosen_format_is_the_smallest_up_to_the_tie():
    """For random densities, the choice stores in at most a tie (per step) more than any
    candidate, and a format other than the default only when it saves more than a tie."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        o, k = int(rng.integers(1, 20)), int(rng.integers(1, 300))
        w = _pruned((o, k), float(rng.choice([1.0, 0.6, 0.3, 0.05, 0.0])), int(rng.integers(99)))
        g = _graph(w)
        v = g.nodes[0].inputs[1]
        sizes = {e: encode(v.data, v.dtype, e).nbytes for e in candidates(v, 0)}
        got = choose_storage(g, RUNS).nodes[0].inputs[1]
        assert got.nbytes <= min(sizes.values()) + tie(sizes[Dense()]) * len(sizes)
        if got.encoding != Dense():
            assert got.nbytes <= sizes[Dense()] * (1 - MIN_SAVING)
        else:
            assert min(sizes.values()) > sizes[Dense()] * (1 - MIN_SAVING)


def test_near_ties_stay_dense():
    assert (tie(100), tie(1024), tie(65536)) == (16, 32, 2048)
    # 32 columns with a quarter zero (as quantization leaves some layers): a bitmask stores
    # 4 + 24 bytes a row for 32, an eighth less, short of MIN_SAVING: dense stays
    w = _pruned((8, 32), 1.0)  # (many distinct values: no codebook)
    w[:, ::4] = 0
    assert encode(w, DType.s8, Bitmask()).nbytes == 8 * 28
    assert _chosen(w) == Dense()
    # half zero at random: 4 + 16 bytes a row, 37.5% less: the bitmask is taken
    assert _chosen(_pruned((8, 32), 0.5, seed=2)) == Bitmask()
    # half zero as 2:4: N:M and the bitmask store the same bytes; N:M comes first and the
    # bitmask does not save more than a tie over it (the rows' zeros differ, so no column is
    # zero in a whole 4-row group, as block CSR wants)
    w[::2, 1::4] = 0
    w[1::2, 2::4] = 0
    assert encode(w, DType.s8, NM(2, 4)).nbytes == encode(w, DType.s8, Bitmask()).nbytes
    assert _chosen(w) == NM(2, 4)
    # the same zeros in every row: whole zero columns, which block CSR skips in 5 bytes a
    # column of a group (172 bytes), within a tie of N:M's 160 and first in PREFERENCE
    w = _pruned((8, 32), 1.0)
    w[:, ::4] = w[:, 1::4] = 0
    assert encode(w, DType.s8, NM(2, 4)).nbytes == 160
    assert encode(w, DType.s8, BlockCSR()).nbytes == 2 * 16 * 5 + 12
    assert _chosen(w) == BlockCSR()


def test_block_pruned_int8_weights_take_block_csr():
    """Whole 4x1 blocks zero (block pruning): block CSR stores 5 bytes per kept block (4
    weights and a column index), CSR 8, a bitmask 4 plus a bit per weight. Unstructured zeros
    at the same sparsity leave few blocks empty: CSR or the bitmask stays smaller. int4
    weights have no block CSR kernel."""
    rng = np.random.default_rng(3)
    for sparsity in (0.5, 0.75, 0.9):
        w = _pruned((32, 256), 1.0, seed=4)
        keep = np.repeat(rng.random((8, 256)) >= sparsity, 4, axis=0)
        assert _chosen(w * keep) == BlockCSR()
        assert BlockCSR() not in candidates(_graph(w * keep // 16, DType.s4).nodes[0].inputs[1], 0)
    assert _chosen(_pruned((32, 256), 0.1)) == CSR()
    assert _chosen(_pruned((32, 256), 0.5)) == Bitmask()


def test_the_input_graph_is_left_unchanged_and_a_silent_backend_gets_no_format():
    g = _graph(_pruned((16, 256), 0.05))
    out = choose_storage(g, RUNS)
    assert g.nodes[0].inputs[1].encoding == Dense()
    assert out.nodes[0].inputs[1].encoding == CSR()

    class Silent(Backend):  # declares no formats: runs() is the base class's
        name = "silent"

        def generate(self, graph, name):
            raise NotImplementedError

        def write(self, generated, out_dir):
            raise NotImplementedError

        def build_host(self, generated, graph):
            raise NotImplementedError

    assert choose_storage(g, Silent().runs).nodes[0].inputs[1].encoding == Dense()
    assert choose_storage(g, RUNS, None).nodes[0].inputs[1].encoding == Dense()


def test_forced_formats_and_their_errors_name_the_layer():
    w = _pruned((4, 16), 1.0)
    assert _chosen(w, storage={"fc": CSR()}) == CSR()  # larger than dense: forced anyway
    assert _chosen(w, storage={"fc": None}) == Dense()
    with pytest.raises(StorageError, match=r"layer fc: its weights w cannot be stored 2:4 "
                                           r"sparse \(axis 0\): .*pattern broken: row 0"):
        _chosen(w, storage={"fc": NM(2, 4)})
    with pytest.raises(StorageError, match=r"layer fc: .* cannot be stored 2-bit codebook: .*"
                                           "holds 4 values"):
        _chosen(w, storage={"fc": Codebook(2)})
    with pytest.raises(StorageError, match=r"layer fc: the target has no dense kernel for s8 "
                                           r"weights stored csr \(axis 1\)"):
        _chosen(w, storage={"fc": CSR(axis=1)})
    with pytest.raises(StorageError, match=r"names 'fc2', which is no layer with weights of "
                                           r"graph fc \(they are: fc\)"):
        _chosen(w, storage={"fc2": CSR()})
    with pytest.raises(StorageError, match=r"storage\['fc'\] must be a format"):
        _chosen(w, storage={"fc": "csr"})
    with pytest.raises(StorageError, match="storage must be 'auto', None or a mapping"):
        _chosen(w, storage="dense")


def _net() -> tuple[nn.Module, np.ndarray]:
    """A conv and two linear layers: the conv pruned 1:2 along its input channels, the first
    linear 97% pruned, the second clustered to 4 values per tensor."""
    torch.manual_seed(3)
    m = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                      nn.Linear(8 * 6 * 6, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    with torch.no_grad():
        c = m[0].weight  # (8, 4, 3, 3): channels 1 and 3 of every tap zero -> 1:2 along OHWI
        c[:, 1::2] = 0
        fc = m[3].weight
        fc[torch.rand(fc.shape) < 0.97] = 0
        last = m[5].weight
        levels = torch.tensor([-0.3, -0.1, 0.1, 0.3])
        last.copy_(levels[torch.randint(0, 4, last.shape)])
    return m, np.random.default_rng(3).standard_normal((32, 4, 6, 6)).astype(np.float32)


@pytest.fixture(scope="module")
def nets():
    m, calib = _net()
    auto = convert(m, calibration=calib, name="sp", progress=False)
    plain = convert(m, calibration=calib, name="sp", progress=False, storage=None)
    return m, calib, auto, plain


def _storage(proj) -> dict[str, object]:
    return {n.name: n.inputs[1].encoding for n in proj.graph.nodes if n.weight_axis is not None}


def test_convert_chooses_per_layer_and_host_c_equals_reference(nets):
    _, calib, auto, plain = nets
    assert _storage(plain) == {"0": Dense(), "3": Dense(), "5": Dense()}
    assert _storage(auto) == {"0": NM(1, 2), "3": CSR(), "5": Codebook(2)}
    body = auto.sources().files["sp.c"]
    for fn in ("ff_conv2d_s8_nm(", "ff_dense_s8_csr16(", "ff_dense_s8_codebook("):
        assert fn in body
    np.testing.assert_array_equal(auto.run_host(calib), auto.reference(calib))
    np.testing.assert_array_equal(auto.reference(calib), plain.reference(calib))


def test_report_counts_every_stored_array(nets):
    _, _, auto, plain = nets
    ra, rp = auto.report(), plain.report()
    rows = {r["name"]: r["weight_bytes"] for r in ra["layers"]}
    for n in auto.graph.nodes:
        if n.weight_axis is None:
            continue
        w, b = n.inputs[1], n.inputs[2]
        stored = encode(w.data, w.dtype, w.encoding)
        assert rows[n.name] == sum(a.data.nbytes for a in stored.arrays) + 4 * b.size
    assert ra["weight_bytes"] == sum(rows.values())
    assert ra["weight_bytes"] < rp["weight_bytes"] / 2
    # what the report counts is what the C arrays hold (plus the records beside them)
    assert auto.sources().const_bytes < plain.sources().const_bytes


def test_convert_forced_storage_and_its_errors(nets):
    m, calib, auto, _ = nets
    forced = convert(m, calibration=calib, name="sp", progress=False,
                     storage={"3": Bitmask(), "5": None})
    assert _storage(forced) == {"0": NM(1, 2), "3": Bitmask(), "5": Dense()}
    np.testing.assert_array_equal(forced.run_host(calib[:4]), auto.reference(calib[:4]))
    with pytest.raises(ConversionError, match=r"layer 5: its weights .* cannot be stored 1:4 "
                                              r"sparse \(axis 0\): .*pattern broken"):
        convert(m, calibration=calib, progress=False, storage={"5": NM(1, 4)})
    with pytest.raises(ConversionError, match="names 'fc', which is no layer with weights"):
        convert(m, calibration=calib, progress=False, storage={"fc": CSR()})


def test_project_file_keeps_the_chosen_storage(nets, tmp_path):
    from firmforge.converter.serialize import load_project, save_project

    auto = nets[2]
    loaded = load_project(save_project(auto, tmp_path / "sp.firmforge.npz"))
    assert _storage(loaded) == _storage(auto)
    assert loaded.sources().files == auto.sources().files


def test_auto_chosen_firmware_on_qemu_equals_reference(nets, tmp_path):
    _, calib, auto, _ = nets
    res = auto.build("qemu-mps2-an386", tmp_path, calib[:3]).run()
    np.testing.assert_array_equal(res.outputs, auto.reference(calib[:3]))
