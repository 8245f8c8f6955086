"""Calibration: run the float graph on sample inputs and record a range for every activation.

An observer sees each value's float tensor batch by batch and proposes a clipping range; it never
keeps the data (running extremes, or a fixed-size histogram whose range grows as needed):

- ``MinMaxObserver``: ``(min x, max x)``.
- ``PercentileObserver(p)``: each tail is clipped separately, ``lo`` at the ``(100 - p)``-th and
  ``hi`` at the ``p``-th percentile of ``x`` itself (not of ``|x|``), so a one-sided tensor such as
  a ReLU output keeps its lower end at 0 and only its long upper tail is cut.
- ``LogitObserver(span)``: a classifier's logits, clipped ``span`` below each sample's largest.
- ``MSEObserver``: the ``(lo, hi)`` within min/max that minimises the expected int8 quantization
  MSE over the histogram (``Histogram.mse_range`` documents the model and the search).

``calibrate`` returns ``{value name: (lo, hi)}`` for the graph input and every value a node makes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from ..ir import DType, Graph, Node, Value
from ..reference import run
from .histogram import Histogram

BATCH = 32  # samples per reference run when calibrate() is given one array


class CalibrationError(ValueError):
    """Calibration data or ranges that cannot calibrate the graph."""


@runtime_checkable
class Observer(Protocol):
    """Sees one value's tensors batch by batch (finite float arrays) and proposes a range."""

    def observe(self, x: np.ndarray) -> None: ...

    def range(self) -> tuple[float, float]: ...


def _extremes(x: np.ndarray) -> tuple[float, float] | None:
    x = np.asarray(x)
    if x.size == 0:
        return None
    lo, hi = float(x.min()), float(x.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):  # min/max propagate NaN and keep Inf
        raise CalibrationError("observed data contains NaN or Inf")
    return lo, hi


class MinMaxObserver:
    """Running minimum and maximum."""

    def __init__(self) -> None:
        self.lo, self.hi = math.inf, -math.inf

    def observe(self, x: np.ndarray) -> None:
        ext = _extremes(x)
        if ext is not None:
            self.lo, self.hi = min(self.lo, ext[0]), max(self.hi, ext[1])

    def range(self) -> tuple[float, float]:
        if self.lo > self.hi:
            raise CalibrationError("observer has seen no data")
        return self.lo, self.hi


class LogitObserver:
    """A classifier's logits (the last axis holds the classes): ``(min over samples of
    (max_c x - span), max x)``. Only the largest logits decide the argmax, and a softmax after
    them: e^-span of the largest is below an int8 probability step (1/256) for span >= 5.55, so
    logits further below clip at no cost to either, and the int8 step shrinks (fewer ties
    between the two largest classes). Give it to the last layer by name:
    ``convert(model, calibration=x, observer={"fc3": LogitObserver})``."""

    def __init__(self, span: float = 8.0) -> None:
        if not span > 0:
            raise ValueError(f"span must be positive, got {span}")
        self.span, self.lo, self.hi = float(span), math.inf, -math.inf

    def observe(self, x: np.ndarray) -> None:
        if _extremes(x) is not None:  # (NaN and Inf raise there)
            rows = x.reshape(-1, x.shape[-1])
            self.lo = min(self.lo, float(rows.min(axis=1).clip(
                min=rows.max(axis=1) - self.span).min()))
            self.hi = max(self.hi, float(rows.max()))

    def range(self) -> tuple[float, float]:
        if self.lo > self.hi:
            raise CalibrationError("observer has seen no data")
        return self.lo, self.hi


class _HistogramObserver:
    def __init__(self, bins: int) -> None:
        self.hist = Histogram(bins)

    def observe(self, x: np.ndarray) -> None:
        if _extremes(x) is not None:
            self.hist.add(x)

    def _check(self) -> None:
        if self.hist.total == 0:
            raise CalibrationError("observer has seen no data")


class PercentileObserver(_HistogramObserver):
    """``(q_{1-p}(x), q_p(x))``: both tails of ``x`` clipped at the ``percentile``, separately."""

    def __init__(self, percentile: float = 99.99, bins: int = 4096) -> None:
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        super().__init__(bins)
        self.percentile = percentile

    def range(self) -> tuple[float, float]:
        self._check()
        q = self.percentile / 100.0
        return self.hist.quantile(1.0 - q), self.hist.quantile(q)


class MSEObserver(_HistogramObserver):
    """The clipping range within min/max with the least expected int8 quantization MSE."""

    def __init__(self, bins: int = 4096) -> None:
        super().__init__(bins)

    def range(self) -> tuple[float, float]:
        self._check()
        return self.hist.mse_range(levels=255)


ObserverChoice = Callable[[], Observer] | Mapping[str, Callable[[], Observer]]


def calibrate(graph: Graph, batches: Iterable[np.ndarray] | np.ndarray | tuple[np.ndarray, ...],
              observer: ObserverChoice = MinMaxObserver,
              progress: bool = True) -> dict[str, tuple[float, float]]:
    """Run the float ``graph`` on every batch and return each value's observed range.

    ``batches`` are float arrays in IR layout: for a graph with one input, one array ``[N, ...]``
    (split into batches of 32) or an iterable of arrays ``[n, ...]``; for several inputs, a
    tuple holding one array ``[N, ...]`` per input (split alike), or an iterable of such tuples.
    ``observer`` is a class or a zero-argument factory; one observer is made per value. It may
    also be a mapping from layer (node) names, whose outputs it then observes, or value names
    to observers, the values it does not name getting ``MinMaxObserver``.
    """
    inputs = graph.inputs
    for inp in inputs:
        if inp.dtype is not DType.f32:
            raise CalibrationError(f"calibrate needs a float graph; input {inp.name} is "
                                   f"{inp.dtype.value}")
    factory_of = _observer_choice(graph, observer)
    whole = batches if len(inputs) > 1 and isinstance(batches, tuple) else (
        (batches,) if isinstance(batches, np.ndarray) else None)
    if whole is not None:
        data = _batch(whole, inputs, 0)
        batches = [tuple(x[i:i + BATCH] for x in data) for i in range(0, len(data[0]), BATCH)]
    total = len(batches) if hasattr(batches, "__len__") else None
    values = [v for v in [*inputs, *(o for n in graph.nodes for o in n.outputs)]
              if not v.is_const and v.dtype is DType.f32]  # b1 values need no range
    made_by = {id(o): n for n in graph.nodes for o in n.outputs}
    observers: dict[str, Observer] = {}
    seen = 0
    for batch in tqdm(batches, total=total, disable=not progress, unit="batch",
                      desc=f"calibrate {graph.name}"):
        xs = _batch(batch if isinstance(batch, tuple) else (batch,), inputs, seen)
        if len(xs[0]) == 0:
            continue
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            _, tensors = run(graph, xs, keep_all=True)
        for v in values:
            t = tensors[v.name]
            _check_finite(t, v, made_by.get(id(v)), seen)
            if v.name not in observers:
                observers[v.name] = _make(factory_of(v.name))
            observers[v.name].observe(t)
        seen += len(xs[0])
    if seen == 0:
        raise CalibrationError(f"empty calibration set for {graph.name}: no samples")
    return {name: _range(name, obs) for name, obs in observers.items()}


def _batch(batch: tuple[np.ndarray, ...], inputs: list[Value], first: int) -> list[np.ndarray]:
    """One batch per input as float32 ``[n, *input.shape[1:]]``, all finite, all of one size
    ``n`` (``first``: the index of its first sample)."""
    if len(batch) != len(inputs):
        raise CalibrationError(f"calibration batches need one array per graph input "
                               f"({len(inputs)}), got {len(batch)}")
    out = []
    for inp, arr in zip(inputs, batch, strict=True):
        x = np.asarray(arr)
        want = tuple(inp.shape[1:])
        if x.ndim != len(inp.shape) or tuple(x.shape[1:]) != want:
            raise CalibrationError(
                f"calibration data for input {inp.name} has the wrong shape: expected "
                f"[n, {', '.join(map(str, want))}], got {list(x.shape)} (at sample {first})")
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise CalibrationError(f"calibration data must be numeric, got {x.dtype}")
        x = x.astype(np.float32, copy=False)
        if len(x):
            bad = np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(axis=1))
            if bad.size:
                raise CalibrationError(f"calibration sample {first + int(bad[0])} contains NaN "
                                       "or Inf")
        out.append(x)
    if len({len(x) for x in out}) > 1:
        raise CalibrationError(f"calibration batches of different sizes for the inputs: "
                               f"{[len(x) for x in out]}")
    return out


def _check_finite(t: np.ndarray, v: Value, node: Node | None, first: int) -> None:
    finite = np.isfinite(t)
    if finite.all():
        return
    sample = first + int(np.flatnonzero(~finite.reshape(len(t), -1).all(axis=1))[0])
    where = f"layer {node.name} ({node.kind})" if node is not None else "the graph input"
    raise CalibrationError(f"{where} produced NaN or Inf in value {v.name} on calibration "
                           f"sample {sample}")


def _observer_choice(graph: Graph, observer: ObserverChoice) -> Callable[[str], Callable]:
    """value name -> observer factory, from one factory or a mapping by layer or value name."""
    if not isinstance(observer, Mapping):
        if not callable(observer):
            raise TypeError("observer must be an observer class or a zero-argument factory, "
                            f"not {observer!r}")
        return lambda _name: observer
    by_value: dict[str, Callable[[], Observer]] = {}
    nodes = {n.name: n for n in graph.nodes}
    values = {v.name for v in graph.values() if not v.is_const}
    for key, factory in observer.items():
        if not callable(factory):
            raise TypeError(f"observer[{key!r}] must be an observer class or a zero-argument "
                            f"factory, not {factory!r}")
        if key in nodes:
            by_value.update((o.name, factory) for o in nodes[key].outputs)
        elif key in values:
            by_value[key] = factory
        else:
            known = ", ".join(list(nodes)[:12])
            raise CalibrationError(f"observer names {key!r}, which is no layer or value of graph "
                                   f"{graph.name} (its layers: {known})")
    return lambda name: by_value.get(name, MinMaxObserver)


def _make(factory: Callable[[], Observer]) -> Observer:
    obs = factory()
    if not isinstance(obs, Observer):
        raise TypeError(f"observer factory made {obs!r}, which has no observe()/range()")
    return obs


def _range(name: str, obs: Observer) -> tuple[float, float]:
    lo, hi = obs.range()
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise CalibrationError(f"observer proposed an invalid range ({lo}, {hi}) for {name}")
    return lo, hi
