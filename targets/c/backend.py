"""The MCU C backend: ``writer.generate`` for sources, the C core beside them, a cffi host build."""

from __future__ import annotations

import os
from pathlib import Path

from ...converter.ir import Graph
from ..backend import Backend
from ..paths import core_files
from . import host
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
