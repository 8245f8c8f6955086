"""Graph passes: each is a plain function ``Graph -> Graph`` returning a rewritten copy (the input
graph is left unchanged); a pipeline is a Python list of them, run in order by ``run_passes``.

FLOAT_PIPELINE simplifies an imported float graph before quantization:
    fold_constants             constant subgraphs evaluated once
    simplify_transposes        layout transposes composed, cancelled, or turned into reshapes
    remove_redundant_reshapes  reshape chains merged, no-op reshapes dropped
    fold_transpose_into_dense  (first run: a flatten's transpose before a binary dense layer)
    fold_binary                BatchNorm and sign folded into binary layers (integer thresholds)
    fold_ternary               BatchNorm and ternarizer folded into ternary layers (the same)
    fold_batchnorm             BatchNorm folded into Conv/Dense weights, or a 1x1 depthwise conv
    fold_transpose_into_dense  a flatten's NCHW transpose absorbed by the Dense weights
    fold_pad_into_conv         explicit zero padding merged into convolution padding
    fuse_activation            Relu/Relu6 fused into the producer's output clamp
    remove_redundant_reshapes  (again: folds above can leave reshape chains)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..ir import Graph, IRError
from .fold_binary import fold_binary
from .fold_bn import fold_batchnorm
from .fold_constants import fold_constants
from .fold_pad import fold_pad_into_conv
from .fold_ternary import fold_ternary
from .fuse_activation import fuse_activation
from .reshape import remove_redundant_reshapes
from .transpose import fold_transpose_into_dense, simplify_transposes

Pass = Callable[[Graph], Graph]

FLOAT_PIPELINE: list[Pass] = [
    fold_constants,
    simplify_transposes,
    remove_redundant_reshapes,
    fold_transpose_into_dense,
    fold_binary,
    fold_ternary,
    fold_batchnorm,
    fold_transpose_into_dense,
    fold_pad_into_conv,
    fuse_activation,
    remove_redundant_reshapes,
]


def run_passes(graph: Graph, pipeline: Sequence[Pass]) -> Graph:
    """Apply ``pipeline`` in order, validating the graph before the first pass (so that an
    invalid input is not blamed on it) and after every pass."""
    graph.validate()
    for p in pipeline:
        graph = p(graph)
        try:
            graph.validate()
        except IRError as e:
            raise IRError(f"pass {p.__name__} produced an invalid graph: {e}") from e
    return graph


__all__ = [
    "FLOAT_PIPELINE",
    "Pass",
    "fold_batchnorm",
    "fold_binary",
    "fold_constants",
    "fold_pad_into_conv",
    "fold_ternary",
    "fold_transpose_into_dense",
    "fuse_activation",
    "remove_redundant_reshapes",
    "run_passes",
    "simplify_transposes",
]
