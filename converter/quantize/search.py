"""Output-aware range search: activation ranges chosen for what the network outputs.

An observer sets each activation's range from that tensor alone (its min/max, a percentile, its
own quantization MSE). What matters is the network's output: an int8 step of ``s`` on a
tensor adds rounding noise of variance ``s^2 / 12`` to every element, which the following
layers carry to the output, while clipping a tail changes only the few samples that reach it,
and often leaves their output unchanged (an outlier input drives a confident output). Which of
the two costs more depends on the layers after the tensor, so it is measured there: starting
from the calibrated ranges ``(lo, hi)``, each range is shrunk in turn to the candidate that
makes the *quantized network's output* closest to the float network's on the calibration
samples (coordinate descent, ``sweeps`` passes over the tensors):

    for every group of values sharing int8 parameters, for hi and then lo (the sides that are
    not 0):  side <- argmin over a in ALPHAS of  L(ranges with side = a * observed side)

Every candidate is quantized with ``quantize`` and run by the integer reference (only the nodes
from the first one touching the group onwards), so the loss ``L`` sees exactly what the
targets compute, weights, fused activations and requantizations included. The cost is about
``sweeps * 2 * len(ALPHAS)`` such partial runs per searched range on up to ``SEARCH_SAMPLES``
calibration samples (about 2.5 s for a 4-layer MLP, 25 s for the small MNIST CNN), and the
int8 tensors of the accepted ranges are kept for the partial runs.

``L`` sums over the graph outputs:

- an output made by a Softmax (a classifier): the KL divergence of the softmax of the
  dequantized int8 logits (the softmax's input) from the float model's softmax,
  ``mean_n sum_c p_c (log p_c - log q_c)``. To second order it is half the ``p``-weighted
  variance of the logit errors, ``1/2 sum_c p_c (e_c - sum_k p_k e_k)^2``: the errors of the
  likely classes count, the ones that decide the argmax and the probabilities, and a shift
  common to all the logits (which changes neither) costs nothing. The int8 softmax output
  itself has a fixed 1/256 step, whatever the ranges, so the loss is measured before it.
- any other output: its mean squared error, relative to the float output's mean square.

A candidate scales one side of the observed range by ``a <= 1``, so the search only clips; the
observed range is a candidate too, and a change is kept only when it lowers ``L``, so the
result never does worse than the observer on the calibration samples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from ..fixed import MultiplierError
from ..ir import Graph, IRError, Node
from ..ops.nonlinear import Softmax
from ..reference import run
from .params import QuantizationError
from .ptq import activation_groups

# The fractions of an observed range side tried: 2**(-k/6), 1 down to 0.2.
ALPHAS = tuple(float(2.0 ** (-k / 6)) for k in range(15))
SEARCH_SAMPLES = 1024  # calibration samples the loss is measured on
Ranges = Mapping[str, tuple[float, float]]


def search_ranges(fgraph: Graph, ranges: Ranges, calib: Sequence[np.ndarray],
                  make: Callable[[Ranges], Graph], *, target: Graph | None = None,
                  sweeps: int = 2, samples: int = SEARCH_SAMPLES,
                  progress: bool = False) -> dict[str, tuple[float, float]]:
    """The ranges of ``fgraph``'s activations after the search (module docstring).

    ``ranges`` are the calibrated ones (value name -> ``(lo, hi)``, from ``calibrate``),
    ``calib`` the IR-layout calibration arrays (one per input; the first ``samples`` are used),
    ``make(ranges)`` the int8 graph ``convert`` would build from ``fgraph`` with those ranges.
    The float outputs compared with are ``target``'s (default ``fgraph``; ``convert`` gives
    the model before bias correction when ``fgraph`` is the corrected copy)."""
    xs = [np.asarray(a, np.float32)[:samples] for a in calib]
    target = target or fgraph
    loss = _Loss(target, run(target, xs, keep_all=True)[1])  # keeps the float tensors it needs
    best = {k: (float(lo), float(hi)) for k, (lo, hi) in ranges.items()}
    groups = [[n for n in g if n in best] for g in activation_groups(fgraph)]
    groups = [g for g in groups if g]
    runner = _Runner(make, xs, loss)
    current = runner.full(best)
    bar = tqdm(total=sweeps * len(groups), disable=not progress, unit="range",
               desc=f"range search {fgraph.name}")
    for _ in range(sweeps):
        for names in groups:
            observed = (min(ranges[n][0] for n in names), max(ranges[n][1] for n in names))
            # hi, then lo; a side at 0 (a ReLU output's lo) has nothing to clip
            for side in [s for s, open_ in ((1, observed[1] > 0), (0, observed[0] < 0)) if open_]:
                for a in ALPHAS:
                    lo, hi = _union(best, names)
                    cand = (lo, a * observed[1]) if side else (a * observed[0], hi)
                    trial = {**best, **dict.fromkeys(names, cand)}
                    value = runner.partial(trial, names)
                    if value < current:
                        best, current = trial, value
            runner.full(best)
            bar.update()
    bar.close()
    return best


def _union(ranges: Ranges, names: list[str]) -> tuple[float, float]:
    return min(ranges[n][0] for n in names), max(ranges[n][1] for n in names)


class _Loss:
    """The distance of an int8 run's tensors from the float run's (module docstring)."""

    def __init__(self, fgraph: Graph, tensors: Mapping[str, np.ndarray]) -> None:
        self.terms: list[tuple[str, float | None, np.ndarray]] = []  # (value, beta or None, ref)
        made_by = {id(o): n for n in fgraph.nodes for o in n.outputs}
        for v in fgraph.outputs:
            node: Node | None = made_by.get(id(v))
            if isinstance(node, Softmax) and not node.x.is_const:
                beta = float(node.beta)
                self.terms.append((node.x.name, beta, _log_softmax(beta * tensors[node.x.name])))
            elif not v.is_const:
                self.terms.append((v.name, None, np.asarray(tensors[v.name], np.float64)))

    def __call__(self, qgraph: Graph, tensors: Mapping[str, np.ndarray]) -> float:
        values = {v.name: v for v in qgraph.values()}
        total = 0.0
        for name, beta, ref in self.terms:
            v = values[name]
            got = v.quant.dequantize(tensors[name]).astype(np.float64)
            if beta is not None:  # KL(softmax of the float logits || softmax of the int8 ones)
                logq = _log_softmax(beta * got)
                total += float((np.exp(ref) * (ref - logq)).sum(axis=-1).mean())
            else:
                total += float(((got - ref) ** 2).mean() / max((ref ** 2).mean(), 1e-30))
        return total


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class _Runner:
    """Runs the int8 graphs of candidate ranges, from the first node a candidate changes.

    Every candidate graph has the same nodes and value names (only the parameters of one group,
    and the constants they rescale, differ), so a node before the first one that reads or
    writes the group computes what it computed with the accepted ranges: those tensors come
    from the last ``full`` run."""

    def __init__(self, make: Callable[[Ranges], Graph], xs: list[np.ndarray],
                 loss: _Loss) -> None:
        self.make, self.xs, self.loss = make, xs, loss
        self.cache: dict[str, np.ndarray] = {}

    def full(self, ranges: Ranges) -> float:
        """The loss of ``ranges``, whose tensors become the cache."""
        q = self.make(ranges)
        _, self.cache = run(q, self._inputs(q), keep_all=True)
        return self.loss(q, self.cache)

    def partial(self, ranges: Ranges, names: list[str]) -> float:
        """The loss of ``ranges``, which differ from the cached ones in group ``names`` only
        (infinite for ranges the int8 ops cannot run with)."""
        try:
            q = self.make(ranges)
            group = set(names)
            env = dict(self.cache)
            inputs = {v.name for v in q.inputs}
            start = 0 if group & inputs else next(
                (i for i, n in enumerate(q.nodes)
                 if group & {v.name for v in [*n.inputs, *n.outputs]}), len(q.nodes))
            if start == 0:
                env.update((v.name, x) for v, x in zip(q.inputs, self._inputs(q), strict=True))
            for node in q.nodes[start:]:
                outs = node.ref([v.data if v.is_const else env[v.name] for v in node.inputs])
                env.update((v.name, y) for v, y in zip(node.outputs, outs, strict=True))
            return self.loss(q, env)
        except (IRError, MultiplierError, QuantizationError):
            return float("inf")

    def _inputs(self, q: Graph) -> list[np.ndarray]:
        return [v.quant.quantize(x, v.dtype) if v.quant is not None else x
                for v, x in zip(q.inputs, self.xs, strict=True)]
