"""Event-driven against dense spike-input layers on an emulated Cortex-M4 (qemu-mps2-an386).

One spiking layer of one time step: a 512-input, 128-neuron synaptic dense layer on spikes
(int8 weights, s32 current) and its LIF neurons (s16 membrane). The event-driven kernel
(``ff_dense_u1_s8_s32``) adds the weight row of each input that spiked; the dense one
(``ff_dense_u1_s8_s32_scan``) walks all 65,536 weights. For scale it also prints the same
layer as an ANN's int8 Dense, whose Cortex-M kernel multiplies two pairs per SMLAD. Inputs
spike independently with the given probability; each build runs 16 steps, and the
instructions of a step (the median; the LIF step and the call overhead included) are
printed, with the firmware's outputs checked against the reference.

    .venv/bin/python benchmarks/spiking_speed.py [--board qemu-mps2-an386]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from firmforge.converter.ir import DType, Graph, QuantParams, Value, const  # noqa: E402
from firmforge.converter.ops.dense import Dense  # noqa: E402
from firmforge.converter.ops.spiking import Lif  # noqa: E402
from firmforge.converter.ops.synapse import DenseCurrent  # noqa: E402
from firmforge.converter.project import Project  # noqa: E402

INPUTS, NEURONS, STEPS = 512, 128, 16
ACTIVITY = (0.05, 0.10, 0.30)


def layer(events: bool, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    x = Value("x", (1, INPUTS), DType.u1)
    w = const("w", rng.integers(-127, 128, (NEURONS, INPUTS)).astype(np.int8), DType.s8)
    b = const("b", rng.integers(-100, 100, NEURONS).astype(np.int32), DType.s32)
    i = Value("i", (1, NEURONS), DType.s32)
    fc = DenseCurrent(name="fc", inputs=[x, w, b], outputs=[i], events=events)
    s = Value("s", (1, NEURONS), DType.u1)
    lif = Lif(name="lif", inputs=[i, const("beta", np.array([29491], np.int32), DType.s32),
                                  const("thr", np.array([2000], np.int32), DType.s32)],
              outputs=[s], state=[Value("mem", (1, NEURONS), DType.s16)])
    g = Graph("layer", [fc, lif], [x], [s])
    g.validate()
    return g


def int8_dense(seed: int = 0) -> Graph:
    """The same layer as an ANN's int8 Dense (the fast Cortex-M kernel), for scale."""
    rng = np.random.default_rng(seed)
    x = Value("x", (1, INPUTS), DType.s8, QuantParams.per_tensor(1 / 255, -128))
    wq = QuantParams(np.full(NEURONS, 0.01, np.float32), np.zeros(NEURONS, np.int64), 0)
    w = Value("w", (NEURONS, INPUTS), DType.s8, wq,
              rng.integers(-127, 128, (NEURONS, INPUTS)).astype(np.int8))
    b = Value("b", (NEURONS,), DType.s32,
              QuantParams(np.full(NEURONS, 0.01 / 255, np.float32), np.zeros(NEURONS, np.int64),
                          0), np.zeros(NEURONS, np.int32))
    y = Value("y", (1, NEURONS), DType.s8, QuantParams.per_tensor(0.05, 0))
    g = Graph("ann", [Dense(name="fc", inputs=[x, w, b], outputs=[y])], [x], [y])
    g.validate()
    return g


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="qemu-mps2-an386")
    args = ap.parse_args()
    print(f"{INPUTS} spike inputs -> {NEURONS} LIF neurons, one step, on {args.board}\n")
    print("| input activity | event-driven | dense | dense / event-driven |")
    print("|---:|---:|---:|---:|")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        ann = Project("ann", int8_dense()).build(args.board, Path(tmp) / "ann",
                                                 np.zeros((4, INPUTS), np.int8)).run()
        ok &= ann.equal
        for p in ACTIVITY:
            rng = np.random.default_rng(int(p * 1000))
            xs = (rng.random((STEPS, INPUTS)) < p).astype(np.uint8)
            counts = {}
            for events in (True, False):
                proj = Project(f"layer_{'events' if events else 'scan'}", layer(events))
                fw = proj.build(args.board, Path(tmp) / f"{p}_{events}", xs)
                run = fw.run()
                ok &= run.equal
                counts[events] = run.instructions
            print(f"| {p:.0%} | {counts[True]:,} | {counts[False]:,} | "
                  f"{counts[False] / counts[True]:.1f}x |")
    print(f"\nfor scale: the same layer as an ANN's int8 Dense (SMLAD kernel, no LIF) takes "
          f"{ann.instructions:,} instructions")
    print("firmware == reference on every step" if ok else "FIRMWARE DIFFERS FROM THE REFERENCE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
