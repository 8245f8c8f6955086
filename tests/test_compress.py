"""Compression before quantization: pruning masks and schedule, N:M, k-means clustering, the
``convert`` options (achieved sparsity, N:M pattern and distinct values of the integer weights,
host C == reference), the CLI, and every bad input."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.converter.compress import (
    cluster_weights,
    global_masks,
    gradual_sparsity,
    kmeans_1d,
    magnitude_mask,
    nm_mask,
)
from firmforge.converter.compress.prune import is_nm, sparsity_of
from firmforge.converter.convert import ConversionError
from firmforge.converter.encoding import NM, BlockCSR, Codebook
from firmforge.converter.ir import DType

ROOT = Path(__file__).resolve().parent.parent

# -- numpy masks, schedule, clustering ----------------------------------------------------------


def test_magnitude_mask_removes_exactly_the_smallest():
    w = np.random.default_rng(0).standard_normal((6, 10))
    for s in (0.0, 0.25, 0.5, 0.9, 0.99):
        keep = magnitude_mask(w, s)
        assert (~keep).sum() == int(np.floor(s * w.size))
        if 0 < s:
            assert np.abs(w[~keep]).max() <= np.abs(w[keep]).min()


def test_global_masks_share_one_threshold():
    rng = np.random.default_rng(1)
    ws = {"a": rng.standard_normal((8, 8)), "b": 5 * rng.standard_normal((4, 16))}
    masks = global_masks(ws, 0.6)
    dropped = np.concatenate([np.abs(ws[k][~masks[k]]) for k in ws])
    kept = np.concatenate([np.abs(ws[k][masks[k]]) for k in ws])
    assert dropped.size == int(0.6 * 128) and dropped.max() <= kept.min()
    # the small-valued layer loses more than the large-valued one
    assert (~masks["a"]).mean() > (~masks["b"]).mean()


def _blocks(keep: np.ndarray, block: int, axis: int = 0) -> np.ndarray:
    """Per block of ``block`` rows x 1 column of the row view: True when all kept, False when
    all dropped (asserting that no block is split)."""
    rows = np.moveaxis(keep, axis, 0).reshape(keep.shape[axis], -1)
    r, c = rows.shape
    padded = np.concatenate([rows, np.repeat(rows[-1:], -r % block, axis=0)])
    grp = padded.reshape(-1, block, c)
    assert np.all(grp.all(axis=1) | ~grp.any(axis=1)), "a block is partly pruned"
    return grp[:, 0]


@pytest.mark.parametrize(("shape", "axis"), [((8, 36), 0), ((10, 3, 3, 2), 0), ((1, 3, 3, 6), 3)])
def test_block_magnitude_mask_removes_whole_blocks_by_mean_magnitude(shape, axis):
    w = np.random.default_rng(4).standard_normal(shape)
    r = shape[axis]
    c = w.size // r
    for s in (0.0, 0.5, 0.75, 0.9):
        keep = magnitude_mask(w, s, block=4, axis=axis)
        blocks = _blocks(keep, 4, axis)
        assert (~blocks).sum() == int(np.floor(s * blocks.size))
        if r % 4 == 0:  # every block is whole: the weights' sparsity is exact too
            assert (~keep).sum() == int(np.floor(s * blocks.size)) * 4
        rows = np.abs(np.moveaxis(w, axis, 0).reshape(r, c))
        means = np.array([rows[g:g + 4].mean(axis=0) for g in range(0, r, 4)])
        if 0 < s:
            assert means[~blocks].max() <= means[blocks].min()
    assert np.array_equal(magnitude_mask(w, 0.6, block=1, axis=axis), magnitude_mask(w, 0.6))
    masks = global_masks({"a": w, "b": 3 * np.random.default_rng(5).standard_normal((4, 9))},
                         0.5, block=4)
    assert sum((~_blocks(m, 4)).sum() for m in masks.values()) == (-(-w.shape[0] // 4)
                                                                   * (w.size // w.shape[0]) + 9) // 2
    for bad in (0, -4, 2.5, True, "4"):
        with pytest.raises(ValueError, match=r"sparsity_block must be a positive integer"):
            magnitude_mask(w, 0.5, block=bad)


def test_gradual_schedule_follows_zhu_and_gupta():
    kw = {"initial": 0.1, "begin": 10, "pruning_steps": 100, "interval": 10}
    assert gradual_sparsity(0, 0.9, **kw) == pytest.approx(0.1)
    assert gradual_sparsity(10, 0.9, **kw) == pytest.approx(0.1)
    # s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3, t rounded down to the update step
    assert gradual_sparsity(60, 0.9, **kw) == pytest.approx(0.9 - 0.8 * 0.5 ** 3)
    assert gradual_sparsity(65, 0.9, **kw) == gradual_sparsity(60, 0.9, **kw)
    assert gradual_sparsity(35, 0.9, **kw) == pytest.approx(0.9 - 0.8 * 0.8 ** 3)
    assert gradual_sparsity(110, 0.9, **kw) == pytest.approx(0.9)
    assert gradual_sparsity(500, 0.9, **kw) == pytest.approx(0.9)
    vals = [gradual_sparsity(t, 0.9, **kw) for t in range(0, 130)]
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(vals))


@pytest.mark.parametrize(("n", "m"), [(2, 4), (1, 4), (3, 8), (1, 2)])
def test_nm_mask_keeps_the_largest_n_of_every_m(n, m):
    w = np.random.default_rng(2).standard_normal((5, 3, 3, 8))  # OHWI, rows of 72
    keep = nm_mask(w, n, m)
    rows = np.abs(np.where(keep, w, 0)).reshape(5, -1, m)
    assert np.all((rows != 0).sum(axis=2) == n)
    full = np.abs(w).reshape(5, -1, m)
    kth = np.sort(full, axis=2)[..., m - n][..., None]
    assert np.all((full >= kth) == (rows != 0))
    assert is_nm(np.where(keep, w, 0), n, m)


def test_kmeans_is_deterministic_and_clusters_per_layer_and_channel():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((6, 50)) * np.arange(1, 7)[:, None]
    w[:, :10] = 0
    c1, l1 = kmeans_1d(w.reshape(-1), 8)
    c2, l2 = kmeans_1d(w.reshape(-1), 8)
    assert np.array_equal(c1, c2) and np.array_equal(l1, l2) and c1.size == 8
    per_layer = cluster_weights(w, 8)
    assert np.unique(per_layer).size <= 8 and np.all(per_layer[:, :10] == 0)
    per_channel = cluster_weights(w, 4, axis=0)
    for row in per_channel:
        assert np.unique(row).size <= 4 and 0 in row
    # each weight goes to its nearest centroid: the error is below the spread of the data
    assert np.abs(per_layer - w).max() < np.abs(w).max() / 2


# -- convert options ------------------------------------------------------------------------

LAYERS = ("0", "3", "5")


def small_model() -> tuple[nn.Module, np.ndarray]:
    torch.manual_seed(5)
    m = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                      nn.Linear(288, 16), nn.ReLU(), nn.Linear(16, 5)).eval()
    return m, np.random.default_rng(5).standard_normal((32, 4, 6, 6)).astype(np.float32)


def _weights(proj) -> dict:
    return {n.name: n.inputs[1] for n in proj.graph.nodes if n.weight_axis is not None}


@pytest.fixture(scope="module")
def projects():
    m, x = small_model()
    opts = {
        "sparse": {"sparsity": 0.6},
        "nm4": {"nm": (2, 4), "weight_bits": 4},
        "clusters": {"clusters": 8},
        "all": {"sparsity": 0.5, "clusters": 6, "weight_bits": 4},
        "per_layer": {"sparsity": {"3": 0.8}, "nm": {"5": (1, 4)}, "clusters": {"0": 4}},
        "block": {"sparsity": 0.9, "sparsity_block": 4},
    }
    return x, {k: convert(m, calibration=x, name="net", progress=False, **v)
               for k, v in opts.items()}


@pytest.mark.parametrize("key", ["sparse", "nm4", "clusters", "all", "per_layer", "block"])
def test_host_c_equals_reference(projects, key):
    x, projs = projects
    np.testing.assert_array_equal(projs[key].run_host(x), projs[key].reference(x))


def test_sparsity_of_the_integer_weights(projects):
    _, projs = projects
    for name, w in _weights(projs["sparse"]).items():
        assert w.dtype is DType.s8
        assert sparsity_of(w.data) >= int(0.6 * w.data.size) / w.data.size, name
        assert sparsity_of(w.data) < 0.65, name  # int8 rounds few further weights to zero
    float_w = {n.name: n.inputs[1].data for n in projs["sparse"].float_graph.nodes
               if n.weight_axis is not None}
    for name, w in float_w.items():
        assert (w == 0).sum() == int(0.6 * w.size), name


def test_block_pruning_stores_block_csr(projects):
    """sparsity=0.9, sparsity_block=4: whole blocks of 4 output channels x 1 input position
    removed (90% of each layer's blocks), stored BlockCSR where that is the smallest and run
    by the bcsr kernels."""
    _, projs = projects
    proj = projs["block"]
    for n in proj.float_graph.nodes:
        if n.weight_axis is not None:
            blocks = _blocks(n.inputs[1].data != 0, 4, n.weight_axis)
            assert (~blocks).sum() == int(0.9 * blocks.size), n.name
    w = _weights(proj)  # (layer 5, 5 x 16 with 4 blocks left, is smaller as a bitmask)
    assert isinstance(w["0"].encoding, BlockCSR) and isinstance(w["3"].encoding, BlockCSR)
    body = proj.sources().files["net.c"]
    assert "ff_conv2d_s8_bcsr(" in body and "ff_dense_s8_bcsr16(" in body


def test_nm_pattern_of_the_integer_weights(projects):
    _, projs = projects
    for name, w in _weights(projs["nm4"]).items():
        assert w.dtype is DType.s4
        assert is_nm(w.data, 2, 4, axis=0), name
    # the sparse dense layer is stored as 2:4 with packed indices
    assert isinstance(_weights(projs["nm4"])["3"].encoding, NM)


def test_clusters_bound_the_distinct_integer_weights(projects):
    _, projs = projects
    for name, w in _weights(projs["clusters"]).items():
        assert 2 <= np.unique(w.data).size <= 8, name
    assert any(isinstance(w.encoding, Codebook) for w in _weights(projs["clusters"]).values())
    for name, w in _weights(projs["all"]).items():
        assert w.dtype is DType.s4 and np.unique(w.data).size <= 6, name
        assert sparsity_of(w.data) >= 0.49, name


def test_per_layer_options(projects):
    _, projs = projects
    w = _weights(projs["per_layer"])
    assert (w["3"].data == 0).sum() >= int(0.8 * w["3"].data.size) and np.unique(w["0"].data).size <= 4
    assert is_nm(w["5"].data, 1, 4) and not is_nm(w["3"].data, 1, 4)
    assert sparsity_of(w["0"].data) < 0.5  # clustering alone keeps most weights


def test_clustering_keeps_accuracy_close_to_int8(projects):
    """16 clusters per layer change the outputs little against plain int8."""
    m, x = small_model()
    p8 = convert(m, calibration=x, name="net", progress=False)
    p16 = convert(m, calibration=x, name="net", progress=False, clusters=16)
    a, b = p8.reference(x).astype(int), p16.reference(x).astype(int)
    assert np.abs(a - b).mean() < 6


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"sparsity": 1.0}, "sparsity must be in [0, 1), got 1.0"),
    ({"sparsity": -0.1}, "got -0.1"),
    ({"sparsity": {"3": 1.5}}, "sparsity['3'] must be in [0, 1), got 1.5"),
    ({"sparsity": "half"}, "'half'"),
    ({"nm": (2, 4), "weight_bits": 4}, None),  # fits: rows of 36, 288, 16
    ({"nm": (2, 8)}, "layer 0: N:M sparsity 2:8 needs rows whose length divides by 8, but "
                     "its rows hold 36"),
    ({"nm": (4, 2)}, "1 <= n < m"),
    ({"nm": 4}, "pair (n, m)"),
    ({"clusters": 32, "weight_bits": 4}, "32 clusters need 5-bit weights, but its weights have "
                                         "4 bits"),
    ({"clusters": 32, "weight_dtype": DType.s4}, "32 clusters"),
    ({"clusters": 1}, "clusters must be an integer in [2, 256], got 1"),
    ({"clusters": 300}, "got 300"),
    ({"sparsity": {"fc1": 0.5}}, "sparsity names 'fc1', which is not a conv/dense layer"),
    ({"clusters": {"nope": 4}}, "'nope'"),
    ({"nm": {"5": (2, 4), "x": (2, 4)}}, "'x'"),
    ({"sparsity_block": 4}, "sparsity_block sets the blocks of magnitude pruning, but layer 0 "
                            "has no sparsity"),
    ({"sparsity": 0.5, "sparsity_block": 0}, "sparsity_block must be a positive integer"),
    ({"sparsity": 0.5, "sparsity_block": 2.5}, "got 2.5"),
    ({"sparsity": {"3": 0.5}, "sparsity_block": {"5": 4}}, "layer 5 has no sparsity"),
    ({"sparsity": 0.5, "sparsity_block": {"zz": 4}}, "sparsity_block names 'zz'"),
    ({"weight_bits": 3}, "weight_bits must be 8, 4 or 2, got 3"),
    ({"weight_bits": {"3": 5}}, "weight_bits['3'] must be 8, 4 or 2"),
    ({"weight_bits": 4, "weight_dtype": DType.s4}, "not both"),
])
def test_bad_options_are_clear_errors(kwargs, needle):
    m, x = small_model()
    if needle is None:
        convert(m, calibration=x[:4], progress=False, **kwargs)
        return
    with pytest.raises(ConversionError) as e:
        convert(m, calibration=x[:4], progress=False, **kwargs)
    assert needle in str(e.value)



def test_cli_options(tmp_path):
    m, x = small_model()
    torch.save(m, tmp_path / "m.pt")
    np.save(tmp_path / "calib.npy", x)
    cli = [sys.executable, "-m", "firmforge.converter.cli"]
    env = {"PYTHONPATH": str(ROOT / ".shim") + ":" + str(ROOT), "PATH": "/usr/bin:/bin"}

    def run(*args):
        return subprocess.run([*cli, "convert", "m.pt", "--calib", "calib.npy", "--no-progress",
                               "--name", "net", *args], cwd=tmp_path, capture_output=True,
                              text=True, env=env)

    r = run("-o", "a", "--weight-bits", "4", "--nm", "2:4", "--sparsity", "3=0.75",
            "--sparsity", "5=0.5", "--clusters", "6")
    assert r.returncode == 0, r.stderr
    from firmforge.converter.serialize import SUFFIX, load_project

    proj = load_project(next((tmp_path / "a").glob(f"*{SUFFIX}")))
    w = _weights(proj)
    assert all(is_nm(v.data, 2, 4) and np.unique(v.data).size <= 6 for v in w.values())
    assert sparsity_of(w["3"].data) >= 0.75
    r = run("-o", "c", "--sparsity", "0.9", "--sparsity-block", "4")
    assert r.returncode == 0, r.stderr
    blocked = _weights(load_project(next((tmp_path / "c").glob(f"*{SUFFIX}"))))["3"]
    assert type(blocked.encoding).__name__ == "BlockCSR"
    for args, needle in [(("--sparsity", "0.5", "--sparsity-block", "0"), "block"),
                         (("--nm", "2x4"), "--nm '2x4'"),
                         (("--sparsity", "1.2"), "[0, 1), got 1.2"),
                         (("--clusters", "32", "--weight-bits", "4"), "32 clusters"),
                         (("--sparsity", "0.5", "--sparsity", "3=0.5"), "LAYER=VALUE"),
                         (("--sparsity", "fc9=0.5"), "'fc9'")]:
        r = run("-o", "b", *args)
        assert r.returncode == 2 and needle in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_int2_weights_end_to_end():
    """weight_bits=2: symmetric [-1, 1] per channel, packed four per byte, the s2 kernels in C
    equal to the reference; per layer next to int8."""
    m, x = small_model()
    p2 = convert(m, calibration=x, name="net", progress=False, weight_bits=2)
    for name, w in _weights(p2).items():
        assert w.dtype is DType.s2 and str(w.encoding) == "packed", name
        assert set(np.unique(w.data)) <= {-1, 0, 1} and np.abs(w.data).max() == 1
    body = p2.sources().files["net.c"]
    assert "ff_conv2d_s8_s2(" in body and "ff_dense_s8_s2(" in body
    np.testing.assert_array_equal(p2.run_host(x), p2.reference(x))
    rows = {r["name"]: r["weight_bytes"] for r in p2.report()["layers"] if r["name"] in LAYERS}
    assert rows == {"0": 288 // 4 + 4 * 8, "3": 4608 // 4 + 4 * 16, "5": 80 // 4 + 4 * 5}
    mixed = convert(m, calibration=x, name="net", progress=False,
                    weight_bits={"3": 2, "5": 4}, sparsity={"3": 0.5})
    assert {k: w.dtype for k, w in _weights(mixed).items()} == {
        "0": DType.s8, "3": DType.s2, "5": DType.s4}
    np.testing.assert_array_equal(mixed.run_host(x), mixed.reference(x))
