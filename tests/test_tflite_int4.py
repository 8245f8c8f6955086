"""TFLite INT4 weights: imported as s4 constants stored ``Packed()``, whose C array is the
file's buffer byte for byte; what TFLM refuses is refused. (TFLM == reference == host C for the
INT4 cases runs with every other family in test_tflite_ops.py: ``tflite_cases.int4_cases``.)"""

from __future__ import annotations

import numpy as np
import pytest
import tflite_cases as tc

from firmforge.converter import reference
from firmforge.converter.encoding import Packed, encode
from firmforge.converter.frontends.tflite import UnsupportedTFLiteError, load_tflite
from firmforge.converter.ir import DType
from firmforge.targets.c.writer import generate

from tflm_harness import BuiltinOperator as Op
from tflm_harness import TensorSpec, TFLMRefused, build_model, pack_int4, run_model, schema


def _buffer_of(model: bytes, tensor: int) -> bytes:
    m = schema.Model.GetRootAs(model, 0)
    t = m.Subgraphs(0).Tensors(tensor)
    assert t.Type() == schema.TensorType.INT4
    return m.Buffers(t.Buffer()).DataAsNumpy().tobytes()


@pytest.mark.parametrize("case", tc.int4_cases(), ids=str)
def test_int4_weights_keep_the_files_bytes(case):
    g = load_tflite(case.model, case.name).graph
    (node,) = g.nodes[-1:]
    w = node.inputs[1]
    assert w.dtype is DType.s4 and w.encoding == Packed()
    assert w.data.min() >= -8 and w.data.max() <= 7
    raw = _buffer_of(case.model, 1)  # the harness writes the filter as tensor 1
    assert encode(w.data, w.dtype, w.encoding)["packed"].data.tobytes() == raw
    src = generate(g, "m")
    assert f"FF_CONST uint8_t m_{node.name}_weights[{len(raw)}]" in src.files["m_weights.c"]
    assert "_s8_s4(" in src.files["m.c"]


def test_packing_matches_tflm():
    """The harness's INT4 packing (low nibble first, independent of firmforge) is what TFLM
    reads: an INT4 filter gives the bytes of the same filter stored INT8."""
    rng = tc.rng_for("int4 vs int8")
    x = tc.act(rng, (1, 5, 5, 3))
    w4 = tc.weights4(rng, (3, 3, 3, 3), 0)  # 81 values: an odd count ends in half a byte
    w8 = TensorSpec(w4.shape, np.int8, w4.scale, w4.zero_point, 0, w4.data)
    assert pack_int4(np.array([1, -2, 7, -8, 3])).tolist() == [0xE1, 0x87, 0x03]
    y = tc.out_for_acc(rng, x, w4, 27, (1, 3, 3, 3))
    opt = tc.options(schema.Conv2DOptionsT, padding=tc.VALID, strideH=1, strideW=1)
    xs = [rng.integers(-128, 128, (4, 5, 5, 3), dtype=np.int8)]
    b = tc.bias(rng, 3, x, w4)
    m4 = build_model(Op.CONV_2D, opt, [x, w4, b], [y])
    m8 = build_model(Op.CONV_2D, opt, [x, w8, b], [y])
    got4 = run_model(m4, xs)[0]
    np.testing.assert_array_equal(got4, run_model(m8, xs)[0])
    g = load_tflite(m4).graph
    np.testing.assert_array_equal(reference.run(g, xs)[0][0], got4)


def test_per_channel_int4_fully_connected_is_refused_like_tflm():
    """TFLM's FULLY_CONNECTED takes per-channel scales only with int8 filters."""
    rng = tc.rng_for("fc4 per channel")
    x = tc.act(rng, (1, 9))
    w = tc.weights4(rng, (4, 9), 0, per_channel=True)
    model = build_model(Op.FULLY_CONNECTED, tc.options(schema.FullyConnectedOptionsT),
                        [x, w, tc.bias(rng, 4, x, w)], [tc.out_for_acc(rng, x, w, 9, (1, 4))])
    with pytest.raises(TFLMRefused, match="filter->type != kTfLiteInt4"):
        run_model(model, [np.zeros((1, 9), np.int8)])
    with pytest.raises(UnsupportedTFLiteError, match=r"INT4 weights .* per-channel scales"):
        load_tflite(model)


def test_int4_constants_elsewhere_are_refused():
    """INT4 is read only as conv/fully-connected weights of an int8 input: an INT4 addend is
    not an operand firmforge takes."""
    rng = tc.rng_for("int4 addend")
    x = tc.act(rng, (1, 4))
    c = TensorSpec((1, 4), tc.int4, 0.05, 0, data=np.array([[1, -2, 3, -8]], np.int8))
    model = build_model(Op.ADD, tc.options(schema.AddOptionsT), [x, c], [tc.act(rng, (1, 4))])
    with pytest.raises(UnsupportedTFLiteError, match="constant of type INT4 is not supported"):
        load_tflite(model)
