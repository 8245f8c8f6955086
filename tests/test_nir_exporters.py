"""NIR graphs as other frameworks write them: Sinabs and Norse export their own networks here;
Spyx (JAX, not installed) is represented by graphs built the way its exporter builds them
(spyx/nir.py 1.0: r = beta and tau = dt / (1 - beta), Conv2d with input_shape, SumPool2d,
recurrent layers as nested graphs whose weights also read the layer's input, the reset-free
neuron as LI + Threshold).

Expected spikes come from the framework itself (Sinabs, Norse) or from a forward-Euler
simulation of the NIR equations written in this file, never from the importer."""

import itertools

import nir
import numpy as np
import pytest
import torch

from firmforge.converter import ConversionError, SpikingOptions, convert
from firmforge.converter.ir import DType
from firmforge.converter.reference import run
from firmforge.snn.nir_import import NirImportError, import_nir

sinabs_layers = pytest.importorskip("sinabs.layers", reason="sinabs is installed by make venv")
norse = pytest.importorskip("norse.torch", reason="norse is installed by make venv")


def _steps(g, x: np.ndarray) -> np.ndarray:
    """The float import of ``g`` over the time steps of ``x`` (T, ...) in NIR layout (CHW)."""
    xs = x.transpose(0, 2, 3, 1) if x.ndim == 4 else x
    y = run(g, [np.ascontiguousarray(xs, np.float32)])[0][0]
    return y.transpose(0, 3, 1, 2) if y.ndim == 4 else y


# -- Sinabs ----------------------------------------------------------------------------------

def _sinabs_cnn(depth: int) -> torch.nn.Sequential:
    from sinabs.activation import MembraneReset, SingleSpike

    def iaf():
        return sinabs_layers.IAFSqueeze(batch_size=1, spike_fn=SingleSpike,
                                        reset_fn=MembraneReset())

    torch.manual_seed(depth)
    layers = [torch.nn.Conv2d(2, 4, 3, padding=1, bias=False), iaf(), sinabs_layers.SumPool2d(2)]
    if depth == 3:
        layers += [torch.nn.Conv2d(4, 8, 3, bias=False), iaf(), sinabs_layers.SumPool2d(2),
                   torch.nn.Flatten(), torch.nn.Linear(8 * 2 * 2, 5, bias=False), iaf()]
    else:
        layers += [torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5, bias=False), iaf()]
    m = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for layer in m:
            if hasattr(layer, "weight"):
                layer.weight.mul_(3)
    return m


def _sinabs_run(m: torch.nn.Sequential, x: np.ndarray) -> np.ndarray:
    for layer in m:
        if hasattr(layer, "reset_states"):
            layer.reset_states()  # the export ran a sample through the network
    with torch.no_grad():
        return m(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("depth", [2, 3])
def test_sinabs_cnn_with_sum_pools_steps_like_sinabs(depth):
    """Sinabs' own export (Conv2d, IF, SumPool2d, Flatten from dim 0, Affine): the float
    import gives Sinabs' spikes exactly (dt = 1 and r = 1 make NIR's IF Sinabs' IAF); the
    pools fold into the next layer for the integer graph, whose host C equals its reference."""
    from sinabs.nir import to_nir

    m = _sinabs_cnn(depth)
    g = to_nir(m, torch.zeros(1, 2, 12, 12))
    assert any(isinstance(n, nir.SumPool2d) for n in g.nodes.values())
    rng = np.random.default_rng({2: 2, 3: 0}[depth])
    x = (rng.random((30, 2, 12, 12)) < 0.3).astype(np.float32)
    want = _sinabs_run(m, x)
    assert want.sum() > 10
    np.testing.assert_array_equal(_steps(import_nir(g, dt=1.0), x), want)

    cal = (rng.random((30, 8, 2, 12, 12)) < 0.3).astype(np.float32)
    # s32 membranes: an IF never forgets, and a neuron driven below zero keeps going
    proj = convert(g, calibration=cal, steps=30, dt=1.0,
                   spiking=SpikingOptions(membrane=DType.s32))
    fixed = proj.reference(x[:, None])[:, 0]
    agree = (fixed == want).mean()
    assert agree >= (0.95 if depth == 2 else 0.8), agree  # int8 weights; IF never forgets
    assert proj.verify(x[:, None]) is None


# -- Norse -----------------------------------------------------------------------------------

def _norse_mlp(cell: str) -> torch.nn.Module:
    torch.manual_seed(3)
    if cell == "box":
        p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(100.0), v_th=torch.tensor(0.5))
        neurons = [norse.LIFBoxCell(p), norse.LIFBoxCell(p)]
    else:
        p = norse.LIFParameters(tau_mem_inv=torch.tensor(100.0), tau_syn_inv=torch.tensor(200.0),
                                v_th=torch.tensor(0.5))
        neurons = [norse.LIFCell(p), norse.LIFCell(p)]
    m = norse.SequentialState(torch.nn.Linear(8, 16), neurons[0], torch.nn.Linear(16, 4),
                              neurons[1])
    with torch.no_grad():
        m[0].weight.mul_(8)
        m[2].weight.mul_(8)
    return m


def test_norse_lif_box_mlp_steps_like_norse():
    """Norse 1.1 writes tau = dt / tau_mem_inv (its dt is divided twice) and an Input with a
    batch dimension; imported with dt = 1e-6 (dt_export^2), NIR's Euler step is Norse's own
    (beta = 1 - dt tau_mem_inv = 0.9), and the spikes are Norse's."""
    m = _norse_mlp("box")
    g = norse.to_nir(m, torch.zeros(1, 8), dt=1e-3)
    assert list(g.nodes["input"].input_type["input"]) == [1, 8]
    x = (np.random.default_rng(0).random((40, 8)) < 0.4).astype(np.float32)
    want, state = [], None
    with torch.no_grad():
        for xt in torch.from_numpy(x[:, None]):
            out, state = m(xt, state)
            want.append(out[0].numpy())
    want = np.array(want)
    assert want.sum() > 3
    np.testing.assert_array_equal(_steps(import_nir(g, dt=1e-6), x), want)


def test_norse_cuba_lif_mlp_converts_and_tracks_its_float_import():
    """Norse's LIFCell exports as CubaLIF; the fixed point follows the float import and the
    host C the reference."""
    m = _norse_mlp("cuba")
    g = norse.to_nir(m, torch.zeros(1, 8), dt=1e-3)
    assert isinstance(g.nodes["1"], nir.CubaLIF)
    rng = np.random.default_rng(1)
    x = (rng.random((60, 8)) < 0.4).astype(np.float32)
    flt = _steps(import_nir(g, dt=1e-6), x)
    assert flt.sum() > 3
    proj = convert(g, calibration=(rng.random((60, 16, 8)) < 0.4).astype(np.float32),
                   steps=60, dt=1e-6)
    fixed = proj.reference(x[:, None])[:, 0]
    assert (fixed == flt).mean() >= 0.95
    assert proj.verify(x[:, None]) is None


# -- Spyx ------------------------------------------------------------------------------------

DT = 1.0


def _spyx_lif(shape, beta, thr):
    return nir.LIF(tau=np.full(shape, DT / (1 - beta)), r=np.full(shape, beta),
                   v_leak=np.zeros(shape), v_threshold=np.full(shape, thr))


def _spyx_graph(rng):
    """As spyx.nir.to_nir writes a Conv -> LIF -> SumPool -> Flatten -> Linear -> RLIF ->
    Linear -> PSU_LIF model."""
    w1 = rng.normal(0, 3.0, (4, 2, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 4).astype(np.float32)
    w2 = rng.normal(0, 2.0, (6, 4 * 4 * 4)).astype(np.float32)
    w_rec = rng.normal(0, 0.5, (6, 6)).astype(np.float32)
    w3 = rng.normal(0, 5.0, (3, 6)).astype(np.float32)
    rlif = nir.NIRGraph(nodes={
        "layer_5.lif": _spyx_lif((6,), 0.8, 1.0),
        "layer_5.w_rec": nir.Linear(weight=w_rec),
        "layer_5.input": nir.Input(input_type={"input": np.array([6])}),
        "layer_5.output": nir.Output(output_type={"output": np.array([6])})},
        edges=[("layer_5.input", "layer_5.w_rec"), ("layer_5.w_rec", "layer_5.lif"),
               ("layer_5.lif", "layer_5.w_rec"), ("layer_5.lif", "layer_5.output")])
    nodes = {
        "input": nir.Input({"input": np.array([2, 8, 8])}),
        "layer_0": nir.Conv2d(input_shape=(8, 8), weight=w1, bias=b1, dilation=1, stride=1,
                              padding=(1, 1), groups=1),
        "layer_1": _spyx_lif((4, 8, 8), 0.7, 1.0),
        "layer_2": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                 padding=np.array([0, 0])),
        "layer_3": nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=0),
        "layer_4": nir.Linear(w2),
        "layer_5": rlif,
        "layer_6": nir.Linear(w3),
        "layer_7": nir.LI(tau=np.full(3, DT / (1 - 0.9)), r=np.ones(3), v_leak=np.zeros(3)),
        "layer_7_threshold": nir.Threshold(threshold=np.full(3, 0.5)),
        "output": nir.Output({"output": np.array([3])})}
    order = ["input", "layer_0", "layer_1", "layer_2", "layer_3", "layer_4", "layer_5",
             "layer_6", "layer_7", "layer_7_threshold", "output"]
    g = nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(order)))
    return g, (w1, b1, w2, w_rec, w3)


def _spyx_euler(x, w1, b1, w2, w_rec, w3):
    """The NIR equations by forward Euler (dt = 1; r = beta scales the input), CHW."""
    def lif(v, i, beta, thr, reset=True):
        v = v + DT * (1 - beta) * (-v + beta * i) if beta is not None else v + i
        s = v > thr
        return (np.where(s, 0.0, v) if reset else v), s.astype(np.float64)

    v1, v2, v3, s2 = np.zeros((4, 8, 8)), np.zeros(6), np.zeros(3), np.zeros(6)
    out = []
    for xt in x:
        xp = np.pad(xt, ((0, 0), (1, 1), (1, 1)))
        conv = np.zeros((4, 8, 8)) + b1[:, None, None]
        for ky in range(3):
            for kx in range(3):
                conv += np.einsum("oi,ihw->ohw", w1[:, :, ky, kx], xp[:, ky:ky + 8, kx:kx + 8])
        v1, s1 = lif(v1, conv, 0.7, 1.0)
        pooled = s1.reshape(4, 4, 2, 4, 2).sum(axis=(2, 4))
        a = w2 @ pooled.reshape(-1)
        v2, s2 = lif(v2, w_rec @ (a + s2), 0.8, 1.0)
        v3, s3 = lif(v3, w3 @ s2, 0.9, 0.5, reset=False)
        out.append(s3)
    return np.array(out, np.float32)


def test_spyx_style_graph_matches_euler_and_converts():
    rng = np.random.default_rng(10)
    g, weights = _spyx_graph(rng)
    x = (rng.random((50, 2, 8, 8)) < 0.4).astype(np.float32)
    want = _spyx_euler(x, *weights)
    assert 5 < want.sum() < want.size - 5
    np.testing.assert_array_equal(_steps(import_nir(g, dt=DT), x), want)
    proj = convert(g, calibration=(rng.random((50, 8, 2, 8, 8)) < 0.4).astype(np.float32),
                   steps=50, dt=DT)
    assert proj.verify(x[:, None]) is None


def test_pools_that_cannot_fold_and_thresholds_without_li_are_clear_errors():
    rng = np.random.default_rng(2)
    g, _ = _spyx_graph(rng)
    g.nodes["layer_2"] = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 1]),
                                       padding=np.array([0, 0]))
    g.nodes["layer_4"] = nir.Linear(rng.normal(0, 1, (6, 4 * 7 * 7)).astype(np.float32))
    g.nodes["layer_3"] = nir.Flatten(input_type={"input": np.array([4, 7, 7])}, start_dim=0)
    # an overlapping pool before a Dense still folds (the pool's adjoint); before a conv not
    import_nir(g, dt=DT)
    conv_after = nir.NIRGraph(nodes={
        "input": nir.Input({"input": np.array([1, 6, 6])}),
        "c1": nir.Conv2d(None, np.ones((2, 1, 1, 1), np.float32), 1, 0, 1, 1, np.zeros(2)),
        "n1": nir.IF(np.ones((2, 6, 6)), np.ones((2, 6, 6))),
        "pool": nir.SumPool2d(np.array([2, 2]), np.array([1, 1]), np.array([0, 0])),
        "c2": nir.Conv2d(None, np.ones((2, 2, 2, 2), np.float32), 1, 0, 1, 1, np.zeros(2)),
        "n2": nir.IF(np.ones((2, 4, 4)), np.ones((2, 4, 4))),
        "output": nir.Output({"output": np.array([2, 4, 4])})},
        edges=[("input", "c1"), ("c1", "n1"), ("n1", "pool"), ("pool", "c2"), ("c2", "n2"),
               ("n2", "output")])
    with pytest.raises(ConversionError, match=r"must fold .* its stride \(1, 1\)"):
        convert(conv_after, calibration=np.ones((4, 2, 1, 6, 6), np.float32), steps=4, dt=1.0)
    lonely = nir.NIRGraph(nodes={
        "input": nir.Input({"input": np.array([3])}),
        "th": nir.Threshold(np.full(3, 0.5)),
        "output": nir.Output({"output": np.array([3])})},
        edges=[("input", "th"), ("th", "output")])
    with pytest.raises(NirImportError, match="Threshold must read one LI"):
        import_nir(lonely, dt=1.0)
