"""TFLite import handlers of the recurrent operators (UNIDIRECTIONAL_SEQUENCE_LSTM, SVDF);
see tflite_ops.py."""

from __future__ import annotations

import numpy as np

from ..ir import Act, DType, QuantParams, Value, const
from ..ops.lstm import Lstm
from ..ops.svdf import Svdf
from .tflite_context import OpCtx, Unsupported
from .tflite_ops import (
    _ACT,
    _ACT_NAMES,
)

# Optional inputs of TFLite's LSTM variants; TFLM's kernel (ValidateTensorStatus) refuses them all.
_LSTM_VARIANTS = {"peephole connections": (9, 10, 11), "a projection layer": (16, 17),
                  "layer normalisation": (20, 21, 22, 23)}
_LSTM_REQUIRED = (2, 3, 4, 6, 7, 8, 13, 14, 15, 18, 19)
_TANH = 4


def UNIDIRECTIONAL_SEQUENCE_LSTM(cx: OpCtx) -> None:
    """The standard LSTM as TFLM runs it (inputs 0..23 in TFLite's order; the variable
    tensors 18 and 19 become the node's state). Gate weights and biases are stacked in the
    order i, f, g, o, the weights keeping one scale per gate along axis 0."""
    cx.expect("UnidirectionalSequenceLSTMOptions", (1, 24), need_options=True)
    if len(cx.op.inputs) != 24:
        raise cx.error(f"takes 24 inputs, has {len(cx.op.inputs)}")
    for feature, slots in _LSTM_VARIANTS.items():
        if any(cx.has_input(i) for i in slots):
            raise Unsupported(f"an LSTM with {feature} (TFLM's kernel runs the standard LSTM "
                              "only)")
    if not all(cx.has_input(i) for i in (1, 5, 12)):
        raise Unsupported("a CIFG LSTM (no input gate; TFLM's kernel needs all four gates)")
    for i in _LSTM_REQUIRED:
        if not cx.has_input(i):
            raise cx.error(f"required input {i} is omitted")
    act = cx.opt("FusedActivationFunction", 0)
    if act != _TANH:
        name = {**{k: a.name for k, a in _ACT.items()}, **_ACT_NAMES}.get(act, act)
        raise Unsupported(f"LSTM cell activation {name}: TFLM's kernel applies nothing but "
                          "TANH there (the cell gate would stay a raw pre-activation)")
    if cx.opt("DiagonalRecurrentTensors", False):
        raise Unsupported("diagonal recurrent weights (TFLM's kernel needs full matrices)")
    x = cx.operand(0)
    w_x = _lstm_stack(cx, x, range(1, 5), "w_x")
    w_h = _lstm_stack(cx, x, range(5, 9), "w_h")
    units = w_x.shape[1]
    wide = x.dtype is DType.s16  # TFLM's 16x8 LSTM reads int64 biases, int8's int32
    biases = [cx.bias(i, units, x, wide) for i in range(12, 16)]
    if len({b.dtype for b in biases}) != 1 or biases[0].dtype is not (
            DType.s64 if wide else DType.s32 if x.dtype is DType.s8 else DType.f32):
        raise Unsupported(f"LSTM biases of types {[b.dtype.value for b in biases]} with "
                          f"{x.dtype.value} activations (TFLM reads "
                          f"{'int64' if wide else 'int32'} for integer models)")
    b = const(cx.b.unique(f"{cx.base}.biases"), np.stack([v.data for v in biases]), biases[0].dtype)
    cx.emit(Lstm, [x, w_x, w_h, b], state=[cx.state(18), cx.state(19)],
            cell_clip=float(cx.opt("CellClip", 0.0)), time_major=bool(cx.opt("TimeMajor", False)))


def _lstm_stack(cx: OpCtx, x: Value, slots: range, tag: str) -> Value:
    """Four gate weight tensors as one constant (4, units, depth), one scale per gate."""
    ws = [cx.weights(i, x, axis=0) for i in slots]
    if len({w.shape for w in ws}) != 1 or len(ws[0].shape) != 2:
        raise cx.error(f"LSTM weights {[list(w.shape) for w in ws]} are not four equal matrices")
    quant = None
    if ws[0].quant is not None:
        if any(w.quant.per_channel for w in ws):
            raise Unsupported("per-channel LSTM weights (TFLM's LSTM reads one scale per weight "
                              "tensor)")
        quant = QuantParams(np.array([w.quant.scale[0] for w in ws], np.float32), np.zeros(4),
                            axis=0)
    return const(cx.b.unique(f"{cx.base}.{tag}"), np.stack([w.data for w in ws]), ws[0].dtype,
                 quant)


def SVDF(cx: OpCtx) -> None:
    """TFLM's integer SVDF (inputs x, weights_feature, weights_time, bias, and the variable
    tensor 4, which becomes the node's state). TFLM's integer kernel applies no fused
    activation (it clamps to int8 only), so the node gets none whatever the option says."""
    cx.expect("SVDFOptions", (3, 5), need_options=True)
    if len(cx.op.inputs) != 5 or not cx.has_input(4):
        raise cx.error(f"takes 5 inputs, the state last, has {len(cx.op.inputs)}")
    x = cx.operand(0)
    if x.dtype is not DType.s8:
        raise Unsupported(f"{x.dtype.value} SVDF (firmforge implements TFLM's int8 SVDF; "
                          "a float one would need a quantizer rule)")
    w_f = cx.weights(1, x, axis=0)
    if w_f.quant.per_channel:
        raise Unsupported("per-channel SVDF weights (TFLM's SVDF reads one scale per tensor)")
    if cx.op.inputs[2] in cx.b.dynamic:
        raise Unsupported("SVDF time weights (input 2) are not constant")
    w_t = cx.operand(2, "weights_time")
    rank = int(cx.opt("Rank", 0))
    if rank < 1 or len(w_f.shape) != 2 or w_f.shape[0] % rank:
        raise cx.error(f"weights {list(w_f.shape)} are not a whole number of rank-{rank} units")
    if not cx.has_input(3):
        raise Unsupported("an int8 SVDF without a bias (TFLM's Prepare reads the bias's scale "
                          "and cannot run one)")
    b = cx.bias(3, w_f.shape[0] // rank, x, False)
    cx.emit(Svdf, [x, w_f, w_t, b], state=[cx.state(4)], rank=rank, act=Act.NONE)
