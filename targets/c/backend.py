"""The MCU C backend: ``writer.generate`` for sources, the C core beside them, a cffi host build."""

from __future__ import annotations

import copy
import os
from pathlib import Path

from ...converter.encoding import Encoding
from ...converter.ir import Graph, IRError, Node, Value
from ..backend import Backend
from ..paths import core_files
from . import host
from .emit import lower
from .writer import CSources, generate, write_files


class CBackend(Backend):
    name = "c"

    def generate(self, graph: Graph, name: str, *, trace: bool = False,
                 profile: bool = False) -> CSources:
        return generate(graph, name, trace=trace, profile=profile)

    def write(self, generated: CSources, out_dir: str | os.PathLike[str]) -> list[Path]:
        return write_files({**generated.files, **core_files(generated.headers)}, Path(out_dir))

    def build_host(self, generated: CSources, graph: Graph) -> host.HostModel:
        [model] = host.build([(generated, graph)])
        return model

    def runs(self, node: Node, encoding: Encoding) -> bool:
        """True when the node, its weights stored ``encoding``, lowers to a kernel (one that
        decodes them, or a dense one for ``Dense()``): the kernel descriptors decide."""
        w = node.inputs[1]
        try:
            trial = copy.copy(node)
            trial.inputs = [node.inputs[0], Value(w.name, w.shape, w.dtype, w.quant, w.data,
                                                  encoding), *node.inputs[2:]]
            lower(trial)
        except (NotImplementedError, IRError):
            return False
        return True
