"""Every HLS template against the op's ``ref()`` on random single-op graphs: the rows of the C
kernel tables (tests/test_kernels_*.py) that the HLS target supports, a few random cases of
each merged into one graph per family (one C simulation build per family, many inputs and
outputs, which also exercises multi-port top functions)."""

from __future__ import annotations

import importlib
import zlib

import numpy as np
import pytest

from firmforge.converter import reference
from firmforge.targets.hls.backend import HlsBackend
from firmforge.targets.hls.context import HlsOptions, IoStyle
from firmforge.targets.hls.errors import UnsupportedOpsError

from kernel_harness import merge_graphs

CASES = 6  # random cases per row
FAMILIES = {
    "dense": ["dense_s8", "dense_s8_s4"],
    "s2": ["dense_s8_s2", "conv2d_s8_s2", "dwconv2d_s8_s2"],
    "conv": ["conv2d_s8", "conv2d_s8_s4", "dwconv2d_s8", "dwconv2d_s8_s4"],
    "pointwise": ["conv2d_s8_1x1"],
    "act": ["relu_s8", "relu6_s8"],
    "eltwise": ["add_s8", "sub_s8"],
    "pool": ["avgpool2d_s8", "maxpool2d_s8", "avgpool2d_s16", "maxpool2d_s16"],
    "quant": ["quantize_s8_s8", "quantize_s8_s16", "quantize_s16_s8", "quantize_s8_s32"],
    "binary": ["binarize_s8_b1", "dense_b1", "dense_b1_s8", "maxpool2d_b1", "conv2d_b1",
               "conv2d_b1_s8"],
    "spiking": ["dense_u1_s8_s32", "dense_s8_s8_s32", "conv2d_u1_s8_s32", "conv2d_s8_s8_s32",
                "maxpool2d_s32"],
    "lif": ["lif_s16", "lif_s32"],  # their own inputs: one sequence of steps each
    "shape": ["reshape_copy"],
    "reduce": ["mean_s8_global"],
}


def _rows(family: str) -> dict:
    module = {"lif": "spiking"}.get(family, family)
    rows = importlib.import_module(f"test_kernels_{module}").ROWS
    if family == "quant":
        rows = [*rows, *importlib.import_module("test_kernels_16x8").ROWS]
    return {r.name: r for r in rows}


def _supported(graph, options: HlsOptions) -> bool:
    try:
        HlsBackend(options).generate(graph, "probe")
    except UnsupportedOpsError:
        return False
    return True


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_templates_equal_reference(family):
    rows = _rows(family)
    io = IoStyle.STREAM if zlib.crc32(family.encode()) % 2 else IoStyle.PARALLEL
    options = HlsOptions("xc7z020clg400-1", 5.0, reuse=1 + zlib.crc32(family.encode()) % 3,
                         io=io)
    graphs, inputs, names = [], [], []
    for name in FAMILIES[family]:
        assert name in rows, f"no row {name} in test_kernels_{family}"
        row = rows[name]
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        kept = 0
        for _ in range(4 * CASES):
            g = row.build(rng)
            if not _supported(g, options):  # a variant the templates do not cover (groups,
                continue  # broadcasting, ...): it is listed as unsupported, never wrong
            graphs.append(g)
            inputs += row.draw(rng, g, batch=3)
            names += [name] * len(g.outputs)
            kept += 1
            if kept == CASES:
                break
        assert kept >= CASES // 2, f"{name}: only {kept} random cases are supported"
    merged = merge_graphs(graphs, f"hls_{family}")
    backend = HlsBackend(options)
    runner = backend.build_host(backend.generate(merged, f"hls_{family}"), merged)
    want, _ = reference.run(merged, inputs)
    got = runner.run(*inputs)
    for i, (w, o) in enumerate(zip(want, got, strict=True)):
        bad = np.argwhere(w != o)
        assert not len(bad), (f"{names[i]} (output {i}) differs at {len(bad)} of {w.size} "
                              f"elements, first {tuple(bad[0])}: csim {o[tuple(bad[0])]} != "
                              f"ref {w[tuple(bad[0])]}")
