"""convert(range_search=True): activation ranges shrunk for the int8 output's fidelity
(converter/quantize/search.py). The jet-tagger test is the "done means" of the 8-bit benchmark:
at int8 weights and activations, >= 99 % argmax agreement with the float model."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from firmforge.converter import convert
from firmforge.converter.frontends.torch_fx import import_torch
from firmforge.converter.passes import FLOAT_PIPELINE, run_passes
from firmforge.converter.quantize import calibrate, quantize
from firmforge.converter.quantize.ptq import activation_groups
from firmforge.converter.quantize.search import _Loss, _Runner
from firmforge.converter.reference import run


def _scales(proj) -> dict[str, float]:
    return {v.name: v.quant.s for v in proj.graph.values()
            if not v.is_const and v.quant is not None and not v.quant.per_channel}


def _float(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy().astype(np.float64)


def test_range_search_never_does_worse_than_the_observer_on_the_calibration_data():
    """A regression output (no softmax): the loss is the output's MSE. The observed ranges are
    candidates too, so the searched ones fit the calibration samples at least as well, and
    they only ever shrink."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
    # Student's t with 2 degrees of freedom: a few far samples set the min/max ranges
    calib = np.random.default_rng(0).standard_t(2, (300, 16)).astype(np.float32)
    plain = convert(model, calibration=calib, progress=False)
    searched = convert(model, calibration=calib, range_search=True, progress=False)
    name = plain.graph.inputs[0].name
    assert _scales(searched)[name] < _scales(plain)[name]  # this one was clipped
    assert all(s <= _scales(plain)[k] * (1 + 1e-6) for k, s in _scales(searched).items())
    want = _float(model, calib)
    err = {k: float(np.mean((p.dequantize(p.reference(calib)) - want) ** 2))
           for k, p in (("plain", plain), ("searched", searched))}
    assert err["searched"] < err["plain"], err
    assert np.array_equal(searched.run_host(calib[:16]), searched.reference(calib[:16]))


def test_partial_runs_equal_full_runs():
    """The search reruns a candidate from the first node its group touches, on the tensors of
    the accepted ranges: that must be what a whole run of the candidate computes."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                          nn.Linear(16, 3), nn.Softmax(dim=1)).eval()
    x = np.random.default_rng(3).standard_normal((64, 8)).astype(np.float32)
    graph = run_passes(import_torch(model, (torch.from_numpy(x[:1]),), name="m").graph,
                       FLOAT_PIPELINE)
    ranges = calibrate(graph, x, progress=False)
    runner = _Runner(lambda r: quantize(graph, r), [x], _Loss(graph, run(graph, [x],
                                                                          keep_all=True)[1]))
    base = runner.full(ranges)
    for names in activation_groups(graph):
        lo, hi = ranges[names[0]]
        trial = {**ranges, **dict.fromkeys(names, (0.6 * lo, 0.6 * hi))}
        part = runner.partial(trial, names)
        assert part == runner.full(trial) != base
        runner.full(ranges)


def test_range_search_on_a_classifier_lowers_the_softmax_divergence():
    """Heavy-tailed inputs and confident logits, as a trained classifier has: min/max spends
    the input's levels on the tails, whose samples the softmax saturates anyway."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 24), nn.ReLU(), nn.Linear(24, 5), nn.Softmax(dim=1)).eval()
    with torch.no_grad():
        model[2].weight *= 8
    x = (np.random.default_rng(1).standard_t(3, (3300, 8)) * 2).astype(np.float32)
    calib, test = x[:300], x[300:]
    want = _float(model, test)

    def kl(p):  # KL(float softmax || softmax of the int8 logits), on held-out data
        z = p.tensors(test)[p.graph.nodes[-1].x.name]
        logits = p.graph.nodes[-1].x.quant.dequantize(z).astype(np.float64)
        logq = logits - logits.max(1, keepdims=True)
        logq -= np.log(np.exp(logq).sum(1, keepdims=True))
        return float((want * (np.log(np.maximum(want, 1e-300)) - logq)).sum(1).mean())

    def agreement(p):
        return float((p.reference(test).argmax(1) == want.argmax(1)).mean())

    plain = convert(model, calibration=calib, progress=False)
    searched = convert(model, calibration=calib, range_search=True, progress=False)
    assert kl(searched) < 0.75 * kl(plain), (kl(searched), kl(plain))
    assert agreement(searched) > agreement(plain) + 0.005, (agreement(searched), agreement(plain))
    assert np.array_equal(searched.run_host(test[:16]), searched.reference(test[:16]))


def test_groups_share_one_range():
    """Values joined by a concat share their int8 parameters: the search moves them together,
    and the softmax's fixed output parameters are no group to search."""

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c = nn.Linear(6, 4), nn.Linear(6, 3), nn.Linear(7, 3)

        def forward(self, x):
            return torch.softmax(self.c(torch.cat([self.a(x), self.b(x)], dim=1)), dim=1)

    torch.manual_seed(2)
    model = Two().eval()
    x = np.random.default_rng(2).standard_normal((200, 6)).astype(np.float32)
    graph = run_passes(import_torch(model, (torch.from_numpy(x[:1]),), name="two").graph,
                       FLOAT_PIPELINE)
    groups = activation_groups(graph)
    ranges = calibrate(graph, x, progress=False)
    assert sum(len(g) for g in groups) == len(ranges) - 1  # all but the softmax output
    joined = next(g for g in groups if len(g) == 3)
    cat = next(n for n in graph.nodes if n.kind == "concat")
    assert set(joined) == {v.name for v in [*cat.inputs, cat.y]}
    proj = convert(model, calibration=x, range_search=True, progress=False)
    values = {v.name: v for v in proj.graph.values()}
    assert len({(values[n].quant.s, values[n].quant.zp) for n in joined}) == 1
    assert np.array_equal(proj.run_host(x[:8]), proj.reference(x[:8]))


def test_jet_tagger_int8_agrees_with_float_on_99_percent():
    """The 16-64-32-32-5 jet tagger (benchmarks/jet_tagger.py, seed 0): plain min/max int8
    agrees with the float argmax on about 98.5 % of the 10,000 held-out inputs, range search
    brings it to >= 99 % (argmax of the int8 softmax output, ties counting as misses)."""
    from benchmarks.jet_tagger import train_jet_tagger

    model, x_train, x_test, _ = train_jet_tagger(seed=0)
    float_cls = _float(model[:-1], x_test).argmax(1)
    searched = convert(model, calibration=x_train[:1000], range_search=True, progress=False)
    agree = float((searched.reference(x_test).argmax(1) == float_cls).mean())
    plain = convert(model, calibration=x_train[:1000], progress=False)
    before = float((plain.reference(x_test).argmax(1) == float_cls).mean())
    assert agree >= 0.99 and agree > before, (agree, before)
    assert searched.verify(x_test[:2000]) is None  # host C == reference


def test_cli_range_search(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from firmforge.converter.cli import main

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval(), "m.pt")
    np.save("calib.npy", np.random.default_rng(0).standard_t(2, (300, 16)).astype(np.float32))
    out = {}
    for flags in ([], ["--range-search"]):
        d = f"out{len(flags)}"
        r = CliRunner().invoke(main, ["convert", "m.pt", "-o", d, "--calib", "calib.npy",
                                      "--name", "m", "--no-progress", *flags])
        assert r.exit_code == 0, r.output
        out[d] = {p.name: p.read_bytes() for p in (tmp_path / d).iterdir() if p.is_file()}
    assert out["out0"].keys() == out["out1"].keys()
    assert out["out0"] != out["out1"]  # other input and activation parameters
