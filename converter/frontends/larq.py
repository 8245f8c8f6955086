"""Binary MLPs given as weights and batch-norm parameters, as Larq and QKeras train them.

A Larq binary MLP is a stack of ``QuantDense`` layers, each followed by ``BatchNormalization``:
the kernel is binarized by ``ste_sign`` (its latent real values' signs, sign(0) = +1), there is
no bias, no scaling factor, and every layer but the first binarizes its input with ``ste_sign``
too; the first usually reads the real input (``input_quantizer=None``). Keras layouts:
kernels ``(in, out)``, batch norms ``y = gamma (x - mean) / sqrt(var + eps) + beta`` with
``eps = 1e-3`` by default.

``import_binary_mlp`` builds the float IR graph of such a model: per layer a ``Binarize`` of
threshold 0 (binary input) and a ``BinaryDense`` of scale 1, or for a real input an ordinary
``Dense`` with the +-1 weights, then the batch norm as a per-channel Mul and Add. ``convert()``
takes the graph like any float model: ``fold_binary`` folds each batch norm and the next
layer's sign into integer thresholds, and the quantizer makes the real-input layer and the
last batch norm int8 from the calibration data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..encoding import PackedRows
from ..ir import DType, Graph, IRError, Names, Node, QuantParams, Value, const, make_node
from ..ops.binary import Binarize, BinaryDense
from ..ops.dense import Dense
from ..ops.eltwise import Add, Mul


@dataclass
class BatchNorm:
    """Keras ``BatchNormalization`` parameters of one layer's outputs (all of shape (out,))."""

    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    epsilon: float = 1e-3


@dataclass
class BinaryDenseLayer:
    """One ``QuantDense``: its kernel ``(in, out)`` (binarized by sign), whether its input is
    binarized (``input_quantizer="ste_sign"``), and the batch norm after it, if any."""

    kernel: np.ndarray
    binary_input: bool = True
    batch_norm: BatchNorm | None = None


def import_binary_mlp(layers: Sequence[BinaryDenseLayer], name: str = "binary_mlp") -> Graph:
    """The float IR graph of the binary MLP ``layers`` (batch first, features last)."""
    if not layers:
        raise IRError("a binary MLP needs at least one layer")
    names = Names()
    nodes: list[Node] = []

    def emit(cls: type[Node], inputs: list[Value], base: str, **attrs) -> Value:
        n = make_node(cls, names.fresh(base), inputs, [names.fresh(f"{base}.out")], **attrs)
        nodes.append(n)
        return n.outputs[0]

    features = np.asarray(layers[0].kernel).shape[0]
    x = Value("x", (1, features), DType.f32)
    h = x
    for i, layer in enumerate(layers):
        k = np.asarray(layer.kernel, np.float64)
        if k.ndim != 2 or k.shape[0] != h.shape[-1]:
            raise IRError(f"layer {i}: kernel {k.shape} does not take {h.shape[-1]} inputs "
                          "(Keras kernels are (in, out))")
        if not np.all(np.isfinite(k)):
            raise IRError(f"layer {i}: the kernel holds NaN or Inf")
        w = np.where(k >= 0, 1, -1).astype(np.int8).T  # ste_sign, IR layout (out, in)
        out = w.shape[0]
        base = f"dense{i}"
        if layer.binary_input:
            h = emit(Binarize, [h, const(names.fresh(f"{base}.threshold"),
                                         np.zeros(h.shape[-1], np.float32)),
                                const(names.fresh(f"{base}.flip"),
                                      np.zeros(h.shape[-1], np.uint8), DType.u1)],
                     f"{base}.sign")
            wq = QuantParams(np.ones(out, np.float32), np.zeros(out, np.int64), 0)
            h = emit(BinaryDense, [h, Value(names.fresh(f"{base}.kernel"), w.shape, DType.b1,
                                            wq, w, PackedRows()),
                                   const(names.fresh(f"{base}.bias"), np.zeros(out, np.float32))],
                     base)
        else:
            h = emit(Dense, [h, const(names.fresh(f"{base}.kernel"), w.astype(np.float32)),
                             const(names.fresh(f"{base}.bias"), np.zeros(out, np.float32))], base)
        bn = layer.batch_norm
        if bn is not None:
            g, b, m, v = (np.asarray(a, np.float64).reshape(-1)
                          for a in (bn.gamma, bn.beta, bn.mean, bn.variance))
            if not all(a.size == out for a in (g, b, m, v)) or np.any(v + bn.epsilon <= 0):
                raise IRError(f"layer {i}: batch norm parameters must be {out} values each, "
                              "with variance + epsilon > 0")
            s = g / np.sqrt(v + bn.epsilon)
            h = emit(Mul, [h, const(names.fresh(f"{base}.bn_scale"), s.astype(np.float32))],
                     f"{base}.bn_mul")
            h = emit(Add, [h, const(names.fresh(f"{base}.bn_shift"),
                                    (b - m * s).astype(np.float32))], f"{base}.bn_add")
    g = Graph(name, nodes, [x], [h])
    g.validate()
    return g
