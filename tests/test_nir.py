"""NIR import: continuous-time neurons discretised by forward Euler with an explicit dt.

Every expected value here comes from an independent forward-Euler simulation of the NIR
equations written in this file (or from snnTorch itself), never from the importer."""

import nir
import numpy as np
import pytest
import snntorch as snn
import snntorch.utils
import torch

from firmforge.converter import ConversionError, SpikingOptions, convert
from firmforge.converter.ir import DType
from firmforge.converter.ops.spiking import Lif, Reset
from firmforge.converter.reference import initial_state, run
from firmforge.snn.nir_import import NirImportError, import_nir


def _graph(nodes: dict, edges: list) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _euler_lif(i, tau, r, v_leak, v_th, dt):
    """NIR's LIF: tau dv/dt = (v_leak - v) + r I, spike when v > v_th, then v = 0."""
    v, spikes, trace = np.zeros_like(i[0], dtype=np.float64), [], []
    for it in i:
        v = v + dt / tau * (v_leak - v + r * it)
        trace.append(v.copy())
        s = v > v_th
        spikes.append(s.astype(np.float32))
        v = np.where(s, 0.0, v)
    return np.array(spikes), np.array(trace)


def _one_lif(tau=2.5e-3, r=1.0, v_leak=0.0, v_th=0.1):
    return _graph({"in": nir.Input(np.array([1])),
                   "w": nir.Affine(np.ones((1, 1), np.float32), np.zeros(1, np.float32)),
                   "lif": nir.LIF(np.array([tau]), np.array([r]), np.array([v_leak]),
                                  np.array([v_th])),
                   "out": nir.Output(np.array([1]))},
                  [("in", "w"), ("w", "lif"), ("lif", "out")])


def test_single_lif_neuron_spikes_with_euler_and_its_fixed_point_membrane_tracks_it():
    dt, steps = 1e-4, 400
    current = np.where(np.arange(steps) >= 20, 0.15, 0.0).astype(np.float32)[:, None, None]
    want, _ = _euler_lif(current.astype(np.float64), 2.5e-3, 1.0, 0.0, 0.1, dt)
    g = import_nir(_one_lif(), dt=dt)
    got = np.stack([run(g, [current[:, 0]])[0][0]])[0]
    assert want.sum() >= 5
    np.testing.assert_array_equal(got, want[:, 0])
    # fixed point: the same spikes, and a membrane within 1 % of the threshold of the float one
    proj = convert(_one_lif(), calibration=current, steps=steps, dt=dt,
                   spiking=SpikingOptions(membrane=DType.s32))
    np.testing.assert_array_equal(proj.reference(current)[:, 0], want[:, 0])
    lif_f = next(n for n in g.nodes if isinstance(n, Lif))
    lif_q = next(n for n in proj.graph.nodes if isinstance(n, Lif))
    fc_q = proj.graph.producer(lif_q.current)
    scale = float(proj.graph.inputs[0].quant.scale[0]) * float(fc_q.inputs[1].quant.scale[0]) \
        / (1 << fc_q.shift)  # the membrane's units (snn/quantize.py)
    sf, sq = initial_state(g), initial_state(proj.graph)
    q_in = proj.time_major_inputs(current)[:, 0]
    worst = 0.0
    for t in range(steps):
        run(g, [current[t, 0][None]], state=sf)
        run(proj.graph, [q_in[t:t + 1]], state=sq)
        mf = sf[lif_f.state[0].name].item()
        mq = sq[lif_q.state[0].name].item() * scale
        worst = max(worst, abs(mf - mq))
    assert worst <= 0.01 * 0.1, worst


def test_snntorch_export_imports_and_steps_like_snntorch():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(10, 16),
        snn.Leaky(beta=torch.full((16,), 0.9), threshold=torch.ones(16), init_hidden=True,
                  reset_mechanism="zero"),
        torch.nn.Linear(16, 4),
        snn.Leaky(beta=torch.full((4,), 0.8), threshold=torch.ones(4), init_hidden=True,
                  reset_mechanism="zero"))
    with torch.no_grad():
        net[0].weight.mul_(3)
        net[2].weight.mul_(3)
    from snntorch.export_nir import export_to_nir

    g = import_nir(export_to_nir(net, torch.rand(10)), dt=1e-4)  # snnTorch's dt
    xs = (torch.rand(60, 1, 10) < 0.4).float()
    snntorch.utils.reset(net)
    with torch.no_grad():
        want = torch.stack([net(xs[t]) for t in range(60)]).numpy().reshape(60, 4)
    got = run(g, [xs.numpy().reshape(60, 10)])[0][0]
    assert want.sum() > 0
    np.testing.assert_array_equal(got, want)


def _sinabs_style(rng):
    """IF neurons after a Conv2d and a Linear, a Flatten between (CHW order), as Sinabs
    writes its CNNs (without pooling)."""
    w1 = rng.normal(0, 1.0, (4, 2, 3, 3)).astype(np.float32)
    w2 = rng.normal(0, 0.5, (3, 4 * 6 * 6)).astype(np.float32)
    return _graph({
        "input": nir.Input(np.array([2, 8, 8])),
        "conv": nir.Conv2d(np.array([8, 8]), w1, 1, 0, 1, 1, np.zeros(4, np.float32)),
        "if1": nir.IF(np.ones((4, 6, 6)), np.ones((4, 6, 6))),
        "flat": nir.Flatten(np.array([4, 6, 6]), 0, -1),
        "fc": nir.Linear(w2),
        "if2": nir.IF(np.ones(3), np.ones(3)),
        "output": nir.Output(np.array([3]))},
        [("input", "conv"), ("conv", "if1"), ("if1", "flat"), ("flat", "fc"), ("fc", "if2"),
         ("if2", "output")]), w1, w2


def _euler_sinabs(x, w1, w2, dt):
    """The same network by hand: dv/dt = r I (r = 1), reset to 0, CHW layout throughout."""
    v1, v2, out = np.zeros((4, 6, 6)), np.zeros(3), []
    for xt in x:
        conv = np.zeros((4, 6, 6))
        for o in range(4):
            for i in range(2):
                for ky in range(3):
                    for kx in range(3):
                        conv[o] += w1[o, i, ky, kx] * xt[i, ky:ky + 6, kx:kx + 6]
        v1 = v1 + dt * conv
        s1 = v1 > 1.0
        v1 = np.where(s1, 0, v1)
        v2 = v2 + dt * (w2 @ s1.astype(np.float64).reshape(-1))
        s2 = v2 > 1.0
        v2 = np.where(s2, 0, v2)
        out.append(s2.astype(np.float32))
    return np.array(out)


def test_sinabs_style_cnn_matches_euler():
    rng = np.random.default_rng(1)
    g_nir, w1, w2 = _sinabs_style(rng)
    dt = 0.5
    x = (rng.random((40, 2, 8, 8)) < 0.5).astype(np.float32)
    want = _euler_sinabs(x, w1, w2, dt)
    g = import_nir(g_nir, dt=dt)
    got = run(g, [np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0][0]
    assert want.sum() > 0
    np.testing.assert_array_equal(got, want)


def test_recurrent_cubalif_and_nested_graph_match_euler():
    rng = np.random.default_rng(2)
    n, dt = 6, 1e-3
    w, w_rec = rng.normal(0, 2, (n, 5)), rng.normal(0, 0.5, (n, n))
    tau_syn, tau_mem = rng.uniform(3e-3, 8e-3, n), rng.uniform(5e-3, 2e-2, n)
    inner = _graph({"i": nir.Input(np.array([5])), "fc": nir.Linear(w.astype(np.float32)),
                    "o": nir.Output(np.array([n]))}, [("i", "fc"), ("fc", "o")])
    g = _graph({"input": nir.Input(np.array([5])), "sub": inner,
                "lif": nir.CubaLIF(tau_syn, tau_mem, np.full(n, 50.0), np.zeros(n),
                                   np.full(n, 0.5)),
                "rec": nir.Linear(w_rec.astype(np.float32)),
                "output": nir.Output(np.array([n]))},
               [("input", "sub"), ("sub", "lif"), ("lif", "rec"), ("rec", "lif"),
                ("lif", "output")])
    x = (rng.random((80, 5)) < 0.3).astype(np.float64)
    syn, v, s, want = np.zeros(n), np.zeros(n), np.zeros(n), []
    for xt in x:
        syn = syn + dt / tau_syn * (-syn + w @ xt + w_rec @ s)
        v = v + dt / tau_mem * (-v + 50.0 * syn)
        s = (v > 0.5).astype(np.float64)
        want.append(s.copy())
        v = np.where(s > 0, 0, v)
    graph = import_nir(g, dt=dt)
    lif = next(n_ for n_ in graph.nodes if isinstance(n_, Lif))
    assert lif.recurrent and lif.synaptic
    got = run(graph, [x.astype(np.float32)])[0][0]
    want = np.array(want)
    assert want.sum() > 0
    assert (got == want).mean() >= 0.99  # float32 against float64 Euler


def test_clear_errors(tmp_path):
    with pytest.raises(NirImportError, match="dt"):
        import_nir(_one_lif(), dt=None)
    with pytest.raises(ConversionError, match="dt"):
        convert(_one_lif(), calibration=np.zeros((4, 1, 1), np.float32), steps=4)
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(NirImportError, match="not a readable NIR file"):
        import_nir(bad, dt=1e-3)
    g = _graph({"in": nir.Input(np.array([2])), "d": nir.Delay(np.array([1.0, 1.0])),
                "out": nir.Output(np.array([2]))}, [("in", "d"), ("d", "out")])
    with pytest.raises(NirImportError, match="Delay is not supported"):
        import_nir(g, dt=1e-3)
    reset = _one_lif()
    reset.nodes["lif"].v_reset = np.array([0.05])
    with pytest.raises(NirImportError, match="v_reset"):
        import_nir(reset, dt=1e-4)
    with pytest.raises(NirImportError, match="longer than its time constant"):
        import_nir(_one_lif(tau=1e-5), dt=1e-4)
    assert Reset.ZERO is next(n for n in import_nir(_one_lif(), dt=1e-4).nodes
                              if isinstance(n, Lif)).reset


def test_cli_converts_a_nir_file(tmp_path):
    from click.testing import CliRunner

    from firmforge.converter.cli import main

    nir.write(str(tmp_path / "net.nir"), _one_lif())
    cal = np.where(np.arange(40) >= 5, 0.15, 0.0).astype(np.float32)[:, None, None]
    np.save(tmp_path / "cal.npy", cal)
    args = ["convert", str(tmp_path / "net.nir"), "--steps", "40", "--calib",
            str(tmp_path / "cal.npy"), "-o", str(tmp_path / "out")]
    res = CliRunner().invoke(main, [*args, "--dt", "1e-4", "--membrane", "32"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "nir.c").is_file() and (tmp_path / "out" / "ff_lif.c").is_file()
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0 and "needs dt" in res.output


@pytest.mark.parametrize("reset,kinds", [("subtract", ("Leaky", "Synaptic", "RLeaky")),
                                         ("none", ("RLeaky", "Leaky")),
                                         ("zero", ("Leaky", "Leaky"))])
def test_export_import_round_trip_keeps_graph_and_quantized_behaviour(reset, kinds, tmp_path):
    from spiking_nets import _neuron

    rng = np.random.default_rng(len(kinds))
    torch.manual_seed(len(kinds))
    sizes = [int(s) for s in rng.integers(5, 30, len(kinds) + 1)]
    layers = []
    for k, kind in enumerate(kinds):
        lin = torch.nn.Linear(sizes[k], sizes[k + 1])
        with torch.no_grad():
            lin.weight.mul_(2.5)
        layers += [lin, _neuron(kind, sizes[k + 1], rng, reset, bool(k % 2))]
    net = torch.nn.Sequential(*layers)
    cal = (rng.random((50, 8, sizes[0])) < 0.35).astype(np.float32)
    proj = convert(net, calibration=cal, steps=50, spiking=SpikingOptions(membrane=DType.s32))
    path = tmp_path / "net.nir"
    proj.to_nir(path)
    back = import_nir(path, dt=1e-4, reset=Reset(reset))
    assert [n.kind for n in back.nodes] == [n.kind for n in proj.float_graph.nodes]
    xs = (rng.random((50, 3, sizes[0])) < 0.35).astype(np.float32)
    for b in range(3):
        want = run(proj.float_graph, [xs[:, b]])[0][0]
        assert want.sum() > 0
        np.testing.assert_array_equal(run(back, [xs[:, b]])[0][0], want)
    again = convert(str(path), calibration=cal, steps=50, dt=1e-4,
                    spiking=SpikingOptions(membrane=DType.s32, reset=Reset(reset)))
    np.testing.assert_array_equal(again.reference(xs), proj.reference(xs))


def test_fixed_point_agrees_with_the_float_nir_simulation():
    """A two-layer LIF network from NIR, seeded random weights and inputs: the fixed-point
    reference gives at least 99 % of the output spikes of the forward-Euler float graph."""
    rng = np.random.default_rng(11)
    n_in, n_h, n_out, dt = 20, 32, 8, 1e-3
    g = _graph({"input": nir.Input(np.array([n_in])),
                "fc1": nir.Affine(rng.normal(0, 1.5, (n_h, n_in)).astype(np.float32),
                                  rng.normal(0, 0.1, n_h).astype(np.float32)),
                "lif1": nir.LIF(rng.uniform(5e-3, 2e-2, n_h), np.full(n_h, 10.0),
                                np.zeros(n_h), np.full(n_h, 1.0)),
                "fc2": nir.Affine(rng.normal(0, 1.0, (n_out, n_h)).astype(np.float32),
                                  np.zeros(n_out, np.float32)),
                "lif2": nir.LIF(rng.uniform(5e-3, 2e-2, n_out), np.full(n_out, 10.0),
                                np.zeros(n_out), np.full(n_out, 1.0)),
                "output": nir.Output(np.array([n_out]))},
               [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"),
                ("lif2", "output")])
    cal = (rng.random((100, 16, n_in)) < 0.3).astype(np.float32)
    proj = convert(g, calibration=cal, steps=100, dt=dt)
    xs = (rng.random((100, 8, n_in)) < 0.3).astype(np.float32)
    fixed = proj.reference(xs)
    fg = import_nir(g, dt=dt)
    flt = np.stack([run(fg, [xs[:, b]])[0][0] for b in range(8)], axis=1)
    assert flt.sum() > 100
    assert (fixed == flt).mean() >= 0.99
