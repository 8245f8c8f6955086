"""Spiking networks end to end: snnTorch in, integer LIF reference, generated C equal to it.

- the float graph of one step, stepped by the reference, gives snnTorch's spike trains;
- the host C gives the reference's spike trains (and readout membranes) bit for bit over 60
  steps, on random networks of several depths, neuron types, resets and parameter shapes,
  recurrent and convolutional ones included;
- the spike condition is strict (mem == thr does not fire) and every bad input is a clear
  error.
"""

import numpy as np
import pytest
import snntorch as snn
import torch

from firmforge.converter import ConversionError, SpikingOptions, convert
from firmforge.converter.ir import DType, Graph, Value
from firmforge.converter.ops.spiking import DecayMode, Lif, Reset
from firmforge.converter.reference import run
from firmforge.snn.project import Readout, batched_steps
from firmforge.snn.snntorch_import import SnnTorchImportError, import_snntorch

from spiking_nets import LoopNet, random_conv, random_mlp, run_snntorch

STEPS = 60


def _rates(shape, seed, p=0.35):
    rng = np.random.default_rng(seed)
    return (rng.random(shape) < p).astype(np.float32)


def _float_steps(graph, xs):
    """The float graph stepped over time-major IR inputs [T, B, ...], each element from reset."""
    return np.stack([run(graph, [np.ascontiguousarray(xs[:, b])])[0][0]
                     for b in range(xs.shape[1])], axis=1)


@pytest.mark.parametrize("seed", range(8))
def test_float_graph_steps_like_snntorch(seed):
    net, n_in = random_mlp(seed)
    xs = torch.from_numpy(_rates((STEPS, 3, n_in), seed))
    want = run_snntorch(net, xs)
    graph = import_snntorch(net, xs[0]).graph
    got = _float_steps(graph, xs.numpy())
    assert want.sum() > 0
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("time_major", [False, True])
def test_tutorial_loop_style_imports_one_step(time_major):
    torch.manual_seed(3)
    net = LoopNet(12, 20, 5, steps=STEPS, time_major=time_major)
    xs = torch.from_numpy(_rates((STEPS, 2, 12), 5))
    x_in = xs if time_major else xs[0]
    imp = import_snntorch(net, x_in)
    assert imp.time_major_input is time_major and imp.steps_recorded == STEPS
    with torch.no_grad():
        want = net(x_in).numpy()
    steps = xs.numpy() if time_major else np.broadcast_to(xs[0].numpy(), xs.shape)
    got = _float_steps(imp.graph, np.ascontiguousarray(steps))
    assert want.sum() > 0
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("seed", range(10))
def test_host_c_equals_reference_on_random_mlps(seed):
    net, n_in = random_mlp(seed)
    cal = _rates((STEPS, 16, n_in), 100 + seed)
    membrane = (DType.s16, DType.s32)[seed % 2]
    proj = convert(net, calibration=cal, steps=STEPS, spiking=SpikingOptions(membrane=membrane))
    xs = _rates((STEPS, 4, n_in), 200 + seed)
    ref = proj.reference(xs)
    assert ref.shape[:2] == (STEPS, 4) and ref.sum() > 0
    np.testing.assert_array_equal(proj.run_host(xs), ref)


def test_batched_steps_are_each_sequence_run_alone():
    """SpikingProject.reference steps all sequences at once (one state row each); that must
    be reference.run of each sequence from reset, as consecutive calls of the graph."""
    net, n_in = random_mlp(4, depth=3)
    cal = _rates((STEPS, 8, n_in), 9)
    proj = convert(net, calibration=cal, steps=STEPS, spiking=SpikingOptions(membrane=DType.s32))
    q = proj.time_major_inputs(_rates((STEPS, 3, n_in), 10))
    steps = batched_steps(proj.graph, q)
    for b in range(3):
        _, tensors = run(proj.graph, [np.ascontiguousarray(q[:, b])], keep_all=True)
        for name, values in tensors.items():
            np.testing.assert_array_equal(np.stack([t[name][b] for t in steps]), values)


@pytest.mark.parametrize("seed", range(3))
def test_host_c_equals_reference_on_conv_nets(seed):
    net, shape = random_conv(seed)
    cal = _rates((STEPS, 8, *shape), 300 + seed)
    proj = convert(net, calibration=cal, steps=STEPS, spiking=SpikingOptions(membrane=DType.s32))
    xs = _rates((STEPS, 2, *shape), 400 + seed)
    ref = proj.reference(xs)
    assert ref.sum() > 0
    np.testing.assert_array_equal(proj.run_host(xs), ref)
    # the quantized network fires like the float one: a spike may move by a step, the counts
    # of every output neuron stay within 2
    want = run_snntorch(net, torch.from_numpy(xs))
    assert np.abs(ref.sum(axis=0) - want.sum(axis=0)).max() <= 2


def test_direct_current_input_and_decoders():
    torch.manual_seed(7)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), snn.Leaky(beta=0.75, init_hidden=True),
                              torch.nn.Linear(16, 4), snn.Leaky(beta=0.875, init_hidden=True))
    rng = np.random.default_rng(7)
    cal = rng.normal(0.5, 1.0, (32, 8)).astype(np.float32)  # static, not spikes: int8 input
    proj = convert(net, calibration=cal, steps=STEPS,
                   spiking=SpikingOptions(membrane=DType.s32, readout=Readout.COUNT))
    assert proj.graph.inputs[0].dtype is DType.s8
    assert [d.mode for d in proj.decays] == [DecayMode.SHIFT, DecayMode.SHIFT]  # 1-2^-2, 1-2^-3
    x = rng.normal(0.5, 1.0, (5, 8)).astype(np.float32)
    counts = proj.reference(x)
    assert counts.shape == (5, 4) and counts.max() > 0
    np.testing.assert_array_equal(proj.run_host(x), counts)
    spikes = convert(net, calibration=cal, steps=STEPS,
                     spiking=SpikingOptions(membrane=DType.s32)).reference(x)
    np.testing.assert_array_equal(spikes.sum(axis=0), counts)


def _one_neuron(membrane_value: int, thr: int) -> Graph:
    cur = Value("i", (1, 1), DType.s32)
    lif = Lif(name="lif", inputs=[cur, Value("b", (1,), DType.s32, data=np.array([1 << 15])),
                                  Value("t", (1,), DType.s32, data=np.array([thr]))],
              outputs=[Value("s", (1, 1), DType.u1)], state=[Value("m", (1, 1), DType.s16)],
              reset=Reset.SUBTRACT)
    g = Graph("one", [lif], [cur], [lif.y])
    g.validate()
    return g


def test_membrane_equal_to_threshold_does_not_fire():
    g = _one_neuron(0, 100)
    out, _ = run(g, [np.array([[100], [0], [1]], np.int32)])
    # 100 == thr: no spike; then 100 again (beta = 1): no spike; then 101 > 100: spike
    np.testing.assert_array_equal(out[0].reshape(-1), [0, 0, 1])


def test_clear_errors():
    net, n_in = random_mlp(1)
    cal = _rates((10, 4, n_in), 1)
    with pytest.raises(ConversionError, match="steps"):
        convert(net, calibration=cal)
    with pytest.raises(ConversionError, match="calibration"):
        convert(net, steps=10)
    with pytest.raises(ConversionError, match="cannot run on an example of shape"):
        convert(net, calibration=cal[..., :-1], steps=10)
    with pytest.raises(ConversionError, match=r"calibration must be \[T, N"):
        convert(net, example_input=torch.zeros(1, n_in), calibration=cal[..., None], steps=10)
    with pytest.raises(SnnTorchImportError, match="Alpha"):
        import_snntorch(torch.nn.Sequential(torch.nn.Linear(3, 3),
                                            snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True)),
                        torch.zeros(1, 3))
    with pytest.raises(SnnTorchImportError, match="inhibition"):
        import_snntorch(torch.nn.Sequential(torch.nn.Linear(3, 3),
                                            snn.Leaky(beta=0.8, inhibition=True,
                                                      init_hidden=True)), torch.zeros(1, 3))
    with pytest.raises(SnnTorchImportError, match="reset_mechanism='zero'"):
        import_snntorch(torch.nn.Sequential(torch.nn.Linear(3, 3),
                                            snn.Synaptic(alpha=0.5, beta=0.8, init_hidden=True,
                                                         reset_mechanism="zero")),
                        torch.zeros(1, 3))


def test_membrane_overflow_names_the_layer():
    """An inhibited integrator (beta 1, negative weights) sinks without bound: on 40 steps
    it reaches -2,000 thresholds, -254,000 membrane units, beyond s16 but not s32."""
    net = torch.nn.Sequential(torch.nn.Linear(50, 4),
                              snn.Leaky(beta=1.0, threshold=1.0, init_hidden=True))
    with torch.no_grad():
        net[0].weight.fill_(-1.0)
        net[0].bias.zero_()
    cal = np.ones((40, 2, 50), np.float32)
    with pytest.raises(ConversionError, match=r"leaky.lif: the membrane reaches .* s16"):
        convert(net, calibration=cal, steps=40)
    proj = convert(net, calibration=cal, steps=40, spiking=SpikingOptions(membrane=DType.s32))
    fc = proj.graph.nodes[0]
    assert proj.membrane_peaks["leaky.lif"] == 40 * 50 * 127 * (1 << fc.shift)
    np.testing.assert_array_equal(proj.run_host(cal[:, :1]), proj.reference(cal[:, :1]))


@pytest.mark.parametrize("board", ["qemu-mps2-an386", "qemu-riscv32-virt"])
def test_emulated_boards_spike_like_the_reference(board, tmp_path):
    net, n_in = random_mlp(2, depth=2)
    cal = _rates((STEPS, 8, n_in), 20)
    proj = convert(net, calibration=cal, steps=STEPS)
    fw = proj.build(board, tmp_path / board, cal[:, :1])
    run_ = fw.run()
    assert run_.equal and np.asarray(run_.outputs).sum() > 0
    assert len(run_.counts) == STEPS and min(run_.counts) > 0  # instructions per step
