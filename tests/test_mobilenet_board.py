"""The MobileNet-style 96x96x3 model (examples/mobilenet.py) on an emulated Cortex-M4: the case
that used to hang when the input lived on the stack. Outputs equal the reference, the stack is
measured and far smaller than the input."""

from __future__ import annotations

import numpy as np

from firmforge.converter import convert

from examples import mobilenet


def test_mobilenet_96x96_on_an386(tmp_path):
    model, x = mobilenet.model_and_data(calibration=8)
    proj = convert(model, calibration=x, name="mobilenet", progress=False)
    kinds = [n.kind for n in proj.graph.nodes]
    assert kinds.count("depthwiseconv2d") == len(mobilenet.BLOCKS) and kinds[-1] == "dense"
    xq = proj.prepare_input(x[:2])[0]
    assert xq.shape == (2, 96, 96, 3) and xq[0].nbytes == 27_648
    fw = proj.build("qemu-mps2-an386", tmp_path, x[:2])
    res = fw.run()
    assert res.equal
    ref = proj.reference(x[:2])
    assert ref.shape == (2, 2) and not np.array_equal(ref[0], ref[1])  # not a constant output
    # measured, and a small fraction of the 27,648 B input that once sat on an 8 KB stack
    assert 64 < res.stack_bytes < res.stack_reserved == fw.stack_reserved < 2048
    macs = proj.report()["macs"]
    assert macs > 3_000_000 and macs < res.instructions < 20 * macs
