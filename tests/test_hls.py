"""The HLS C++ target: the C simulation (g++ with hls4ml's ap_types, or ac_types) equals the
integer reference bit for bit, for an MLP, a CNN, a residual model, a binary MLP and spiking
networks, in both I/O styles and at two reuse factors; the generated project is complete."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import numpy as np
import pytest

from firmforge.converter import convert
from firmforge.targets.c.context import c_identifier
from firmforge.targets.hls.csim import ac_types_dir, compile_csim

from hls_models import (
    PART,
    binary_cnn,
    binary_mlp,
    cnn,
    conv1d,
    images,
    mlp,
    residual,
    spike_trains,
    vectors,
)
from spiking_nets import random_conv, random_mlp


@pytest.fixture(scope="module")
def mlp_proj():
    return mlp()


@pytest.fixture(scope="module")
def cnn_proj():
    return cnn()


@pytest.mark.parametrize("io", ["parallel", "stream"])
def test_mlp_csim_equals_reference(mlp_proj, tmp_path, io):
    hp = mlp_proj.write_hls(tmp_path / "mlp", part=PART, clock_ns=5, reuse=1, io=io)
    x = vectors(200, 16)
    want = mlp_proj.reference(x)
    assert len(np.unique(want)) > 20  # outputs that exercise the requantization
    np.testing.assert_array_equal(hp.csim(x), want)


@pytest.mark.parametrize("io", ["parallel", "stream"])
def test_cnn_csim_equals_reference(cnn_proj, tmp_path, io):
    hp = cnn_proj.write_hls(tmp_path / "cnn", part=PART, clock_ns=5, reuse=2, io=io)
    x = images(40)
    np.testing.assert_array_equal(hp.csim(x), cnn_proj.reference(x))
    assert hp.verify(x) is None


def test_trace_names_the_first_differing_layer(cnn_proj, tmp_path):
    """A trace build writes every layer's output; against the reference's tensors it names
    the first layer whose bytes differ (here after the second conv's first requantization
    multiplier is halved in the generated C++)."""
    hp = cnn_proj.write_hls(tmp_path / "t", part=PART, clock_ns=5)
    x = images(4, seed=6)
    assert hp.first_difference(x) is None
    traced = hp.trace(x)
    want = cnn_proj.tensors(x)
    assert set(traced) == {v.name for n in cnn_proj.graph.nodes for v in n.outputs}
    for name, got in traced.items():
        np.testing.assert_array_equal(got, want[name])
    conv2 = cnn_proj.graph.nodes[2]
    src = hp.project.sources()
    weights = src.files["src/cnn_weights.h"]
    at = weights.index("{", weights.index(f"cnn_{c_identifier(conv2.name)}_mult[")) + 1
    first = weights[at:].split(",")[0].strip()
    broken = weights[:at] + weights[at:].replace(first, str(int(first) // 2), 1)
    hp.project._sources = replace(src, files={**src.files, "src/cnn_weights.h": broken})
    hp.project._host = None
    msg = hp.first_difference(x)
    assert msg is not None and msg.startswith(f"layer {conv2.name} (conv2d)"), msg


def test_conv1d_equals_reference(tmp_path):
    proj = conv1d()
    hp = proj.write_hls(tmp_path / "c1d", part=PART, clock_ns=5, reuse=3, io="stream")
    x = np.random.default_rng(2).standard_normal((30, 3, 32)).astype(np.float32)
    np.testing.assert_array_equal(hp.csim(x), proj.reference(x))


def test_two_reuse_factors_same_outputs_other_estimates(mlp_proj, tmp_path):
    x = vectors(60, 16, seed=3)
    h1 = mlp_proj.write_hls(tmp_path / "r1", part=PART, clock_ns=5, reuse=1)
    h4 = mlp_proj.write_hls(tmp_path / "r4", part=PART, clock_ns=5, reuse=4)
    np.testing.assert_array_equal(h1.csim(x), h4.csim(x))
    np.testing.assert_array_equal(h4.csim(x), mlp_proj.reference(x))
    e1, e4 = h1.estimates, h4.estimates
    assert e4["multipliers"] < e1["multipliers"] and e4["latency_cycles"] > e1["latency_cycles"]
    assert e1["weight_bits"] == e4["weight_bits"]
    assert [r["reuse"] for r in e4["layers"]] == [4] * 4
    assert "synthesis" in e1["note"]


def test_pruned_weights_need_fewer_multipliers(tmp_path):
    """Zero weights cost nothing and +-2^k are shifts: with 70 % of the weights zero the
    multiplier estimate is at most the nonzero count (and the C simulation is still exact)."""
    proj = mlp(prune=0.7)
    hp = proj.write_hls(tmp_path / "pruned", part=PART, clock_ns=5)
    weights = [n.inputs[1].data for n in proj.graph.nodes]
    nonzero = sum(int(np.count_nonzero(w)) for w in weights)
    total = sum(w.size for w in weights)
    assert nonzero <= 0.35 * total
    est = hp.estimates
    assert est["multipliers"] <= nonzero
    for row, w in zip(est["layers"], weights, strict=True):
        pow2 = np.isin(np.abs(w.astype(np.int64)), [1, 2, 4, 8, 16, 32, 64, 128])
        assert row["multipliers"] == np.count_nonzero(w) - np.count_nonzero(pow2)
        assert row["shifts"] == np.count_nonzero(pow2)
    dense_est = mlp().write_hls(tmp_path / "dense", part=PART, clock_ns=5).estimates
    assert est["multipliers"] < 0.4 * dense_est["multipliers"]
    x = vectors(50, 16)
    np.testing.assert_array_equal(hp.csim(x), proj.reference(x))


def test_residual_add_equals_reference(tmp_path):
    proj = residual()
    kinds = [n.kind for n in proj.graph.nodes]
    assert "add" in kinds, kinds
    hp = proj.write_hls(tmp_path / "res", part=PART, clock_ns=4, io="stream")
    x = vectors(100, 12)
    np.testing.assert_array_equal(hp.csim(x), proj.reference(x))


def test_binary_mlp_equals_reference(tmp_path):
    proj, x = binary_mlp()
    assert {"binarize", "binarydense"} <= {n.kind for n in proj.graph.nodes}
    for io, reuse in (("parallel", 1), ("stream", 3)):
        hp = proj.write_hls(tmp_path / io, part=PART, clock_ns=5, io=io, reuse=reuse)
        assert hp.estimates["layers"][2]["multipliers"] == 0  # XNOR-popcount
        np.testing.assert_array_equal(hp.csim(x[:40]), proj.reference(x[:40]))


def test_binary_cnn_equals_reference(tmp_path):
    proj, x = binary_cnn()
    kinds = [n.kind for n in proj.graph.nodes]
    assert kinds.count("binaryconv2d") == 2 and "binarydense" in kinds, kinds
    hp = proj.write_hls(tmp_path / "bcnn", part=PART, clock_ns=5, reuse=2)
    np.testing.assert_array_equal(hp.csim(x[:24]), proj.reference(x[:24]))


@pytest.mark.parametrize("seed", [0, 1, 3, 5])
def test_spiking_mlp_equals_reference(tmp_path, seed):
    """Leaky, Synaptic and recurrent layers with every reset, 40 steps from reset, state
    kept by the top function between calls."""
    net, n_in = random_mlp(seed)
    proj = convert(net, calibration=spike_trains((40, 16, n_in), 100 + seed), steps=40,
                   progress=False)
    hp = proj.write_hls(tmp_path / "snn", part=PART, clock_ns=5,
                        io=("parallel", "stream")[seed % 2], reuse=1 + seed % 2)
    xs = spike_trains((40, 2, n_in), 200 + seed)
    want = proj.reference(xs)
    assert want.sum() > 0
    np.testing.assert_array_equal(hp.csim(xs), want)


def test_spiking_cnn_equals_reference(tmp_path):
    net, chw = random_conv(0)
    proj = convert(net, calibration=spike_trains((20, 8, *chw), 7), steps=20, progress=False)
    hp = proj.write_hls(tmp_path / "snnc", part=PART, clock_ns=5)
    xs = spike_trains((20, 2, *chw), 8)
    np.testing.assert_array_equal(hp.csim(xs), proj.reference(xs))


@pytest.mark.skipif(ac_types_dir() is None, reason="hls4ml ships no ac_types headers")
@pytest.mark.parametrize("io", ["parallel", "stream"])
def test_ac_int_flavor_equals_reference(cnn_proj, tmp_path, io):
    hp = cnn_proj.write_hls(tmp_path / "ac", part=PART, clock_ns=5, io=io, flavor="ac")
    assert "#define FF_HLS_AC" in (hp.dir / "src" / "cnn.h").read_text()
    assert (hp.dir / "build_catapult.tcl").is_file()
    x = images(20, seed=4)
    np.testing.assert_array_equal(hp.csim(x), cnn_proj.reference(x))


def test_generated_project_is_complete(cnn_proj, tmp_path):
    hp = cnn_proj.write_hls(tmp_path / "p", part="xczu7ev-ffvc1156-2-e", clock_ns=3.3, reuse=2)
    d = hp.dir
    names = {p.relative_to(d).as_posix() for p in hp.files}
    assert {"src/cnn.cpp", "src/cnn.h", "src/cnn_config.h", "src/cnn_weights.h", "tb/tb.cpp",
            "build_prj.tcl", "README.md", "tb_data/tb_input.txt",
            "tb_data/tb_expected.txt", "src/ff_hls_dense.h"} <= names
    assert not any("ap_int" in n or "ap_types" in n for n in names)  # found, never copied
    tcl = (d / "build_prj.tcl").read_text()
    for word in ("xczu7ev-ffvc1156-2-e", "set clock_ns 3.3", "csim_design", "csynth_design",
                 "cosim_design", "export_design", "set_top cnn_top"):
        assert word in tcl
    top = (d / "src" / "cnn.cpp").read_text()
    assert "void cnn_top(" in top and "#pragma HLS INTERFACE" in top
    cfg = (d / "src" / "cnn_config.h").read_text()
    assert "static const int reuse = 2;" in cfg and "typedef ff_int<" in cfg
    weights = (d / "src" / "cnn_weights.h").read_text()
    assert "static const ff_int<" in weights
    # the project's own testbench, run where Vitis would run it, passes its vectors
    binary = compile_csim(hp.sources)
    r = subprocess.run([str(binary)], cwd=d, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "0 mismatch" in r.stdout, r.stdout + r.stderr
    outs = (d / "tb_data" / "csim_output.txt").read_text()
    assert outs == (d / "tb_data" / "tb_expected.txt").read_text()


def test_accumulator_widths_come_from_the_weights(tmp_path):
    """A pruned layer's accumulator is narrower than the dense layer's, and both are far
    from a blanket 32 bits."""
    dense = mlp().write_hls(tmp_path / "d", part=PART, clock_ns=5).sources
    pruned = mlp(prune=0.9).write_hls(tmp_path / "p", part=PART, clock_ns=5).sources

    def acc_bits(src) -> list[int]:
        cfg = src.files["src/mlp_config.h"]
        return [int(line.split("<")[1].split(">")[0]) for line in cfg.splitlines()
                if line.strip().endswith("acc_t;")]

    d, p = acc_bits(dense), acc_bits(pruned)
    assert len(d) == 4 and max(d) < 32
    assert all(b <= a for a, b in zip(d, p, strict=True)) and sum(p) < sum(d)
