"""Quantized Graph -> ``<name>.h``, ``<name>.c``, ``<name>_weights.c``.

``<name>.c`` is a straight list of kernel calls with constant arguments over one static arena;
``<name>_weights.c`` holds every constant as an aligned ``FF_CONST`` array (flash on every
target); ``<name>.h`` declares ``<name>_run`` and the size macros. A stateful model (one with
TFLite variable tensors or spiking membranes) also has a static state region and
``<name>_reset()``, which restores the state and must be called once before the first run.
Output is deterministic: the same graph gives byte-identical files.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...converter.ir import DType, Graph, IRError, Stateful, reset_value
from ...converter.ops.spiking import Lif
from ...converter.plan import MemoryPlan, Storage, plan_memory
from .boundary import io_count, io_ctype
from .context import ConstArray, EmitContext, c_identifier, c_literal
from .emit import emit, lower

GENERATOR = "firmforge"
PROFILE_MARK = "    ff_platform_mark_layer();"
_CTYPE_BYTES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4,
                "uint32_t": 4, "int64_t": 8, "float": 4}


@dataclass
class CSources:
    """Generated C for one model: file name -> text, plus what a host build needs to know."""

    prefix: str
    files: dict[str, str]
    prototypes: list[str]
    plan: MemoryPlan
    const_bytes: int  # every constant array as stored (encoded weights, biases, tables)
    headers: list[str]
    trace: list[tuple[str, int, int]] | None = None  # (value name, offset, bytes) in trace mode

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write the files atomically: on any error nothing is left half-written."""
        return write_files(self.files, Path(out_dir))


def write_files(files: dict[str, str], out: Path) -> list[Path]:
    """Stage every file next to its destination, then rename them into place; return the
    paths of all ``files``.

    A failure while staging removes what was staged, so ``out`` never holds a partial set. A
    file that already holds the same text is left alone, keeping its modification time, so
    that ``make`` in a project written again (another model or other vectors in the same
    directory) recompiles only what changed.
    """
    if out.exists() and not out.is_dir():
        raise OSError(f"output path {out} exists and is not a directory")
    staged: list[tuple[Path, Path]] = []
    umask = os.umask(0)
    os.umask(umask)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            if _holds(out / name, text):
                continue
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out)
            staged.append((Path(tmp), out / name))
            os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600 files; sources are ordinary files
            with os.fdopen(fd, "w") as f:
                f.write(text)
    except OSError as e:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write to output directory {out}: {e.strerror or e}") from e
    for tmp, final in staged:
        os.replace(tmp, final)
    return [out / name for name in files]


def _holds(path: Path, text: str) -> bool:
    try:
        with open(path, newline="") as f:  # as written: no newline translation either way
            return f.read() == text
    except (OSError, UnicodeDecodeError):
        return False


def generate(graph: Graph, name: str | None = None, *, trace: bool = False,
             profile: bool = False, check_arena: bool = False) -> CSources:
    """C sources for ``graph``. With ``trace``, the run function is ``<prefix>_run_trace`` and
    takes a third buffer that receives a copy of every node's output right after the node runs
    (for layer-by-layer comparison on the host). With ``profile`` (firmware only), the run
    function calls ``ff_platform_mark_layer()`` after each node's kernel calls, one call per
    node in graph order, where an emulator records its counter; without it nothing of the
    kind is emitted. With ``check_arena`` (host builds under AddressSanitizer only), each node's
    calls are preceded by poisoning the whole arena and unpoisoning the node's own buffers (its
    arena inputs, outputs and scratch), so a kernel that reads or writes any other byte of the
    static arena is an ASan error, which ASan alone cannot see inside one static array."""
    prefix = c_identifier(name or graph.name).lower()
    kernels = [lower(node) for node in graph.nodes]  # every op supported, before any planning
    plan = plan_memory(graph, [k.scratch for k in kernels],
                       [n.inplace if k.inplace is None else k.inplace
                        for n, k in zip(graph.nodes, kernels, strict=True)])
    ctx = EmitContext(graph, plan, prefix)
    layout: list[tuple[str, int, int]] = []
    offset = 0
    for t, (node, k) in enumerate(zip(graph.nodes, kernels, strict=True)):
        ctx.begin(node, t, k)
        first = len(ctx.body)
        emit(node, ctx)
        if check_arena and len(ctx.body) > first:
            ctx.body[first:first] = _arena_check(node, t, plan)
        if trace:
            for v in node.outputs:
                ctx.call("ff_shape.h", "ff_copy", v.nbytes, ctx.ptr(v), f"trace + {offset}")
                layout.append((v.name, offset, v.nbytes))
                offset += (v.nbytes + 3) // 4 * 4
        if profile:
            ctx.body.append(PROFILE_MARK)
    proto = _run_prototype(graph, prefix, trace)
    protos = [proto + ";"]
    if graph.stateful:
        protos.append(f"void {prefix}_reset(void);")
    if spiking(graph) and not trace:
        protos.append(_steps_prototype(graph, prefix) + ";")
    weights = _weights_c(prefix, ctx.arrays)
    const_bytes = sum(a.data.size * _CTYPE_BYTES[a.ctype] for a in ctx.arrays)
    files = {
        f"{prefix}.h": _header(graph, prefix, plan, proto),
        f"{prefix}.c": _model_c(graph, prefix, plan, ctx, proto, profile, check_arena),
        f"{prefix}_weights.c": weights,
    }
    return CSources(prefix, files, protos, plan, const_bytes, sorted(ctx.headers),
                    layout if trace else None)


def spiking(graph: Graph) -> bool:
    """A time-stepped spiking model (any Lif layer): its C has ``<prefix>_run_steps``."""
    return any(isinstance(n, Lif) for n in graph.nodes)


def _steps_prototype(graph: Graph, prefix: str) -> str:
    args = []
    for kind, vals, const in (("in", graph.inputs, "const "), ("out", graph.outputs, "")):
        for i, v in enumerate(vals):
            args.append(f"{const}{io_ctype(v)} *{kind if len(vals) == 1 else f'{kind}{i}'}")
    return f"void {prefix}_run_steps({', '.join(args)}, int32_t steps)"


def _steps_c(graph: Graph, prefix: str) -> list[str]:
    """``<prefix>_run_steps``: a new sequence (reset), then ``steps`` runs, time step t reading
    the t-th sample of each input and writing the t-th of each output."""
    up = prefix.upper()
    calls = []
    for kind, vals in (("in", graph.inputs), ("out", graph.outputs)):
        for i in range(len(vals)):
            nm, tag = (kind, kind.upper() + "PUT") if len(vals) == 1 else \
                (f"{kind}{i}", f"{kind.upper()}PUT{i}")
            calls.append(f"{nm} + (int32_t)t * {up}_{tag}_SIZE")
    return [_steps_prototype(graph, prefix) + " {", f"    {prefix}_reset();",
            "    for (int32_t t = 0; t < steps; ++t) {",
            f"        {prefix}_run({', '.join(calls)});", "    }", "}", ""]


def _arena_check(node, step: int, plan: MemoryPlan) -> list[str]:
    """ASan calls that leave only ``node``'s arena buffers addressable (see ``generate``)."""
    spans = {(b.offset, b.size) for b in (plan.buffer(v) for v in [*node.inputs, *node.outputs]
                                          if not v.is_const) if b.storage is Storage.ARENA}
    if step in plan.scratch:
        spans.add((plan.scratch[step].offset, plan.scratch[step].size))
    lines = [f"    ASAN_POISON_MEMORY_REGION(arena, {max(plan.arena_size, 1)});"]
    lines += [f"    ASAN_UNPOISON_MEMORY_REGION(arena + {o}, {n});" for o, n in sorted(spans) if n]
    return lines


def _banner(graph: Graph) -> str:
    return f"/* Generated by {GENERATOR} from model '{c_identifier(graph.name)}'. Do not edit. */\n"


def _run_prototype(graph: Graph, prefix: str, trace: bool = False) -> str:
    args = []
    for kind, vals, const in (("in", graph.inputs, "const "), ("out", graph.outputs, "")):
        for i, v in enumerate(vals):
            nm = kind if len(vals) == 1 else f"{kind}{i}"
            args.append(f"{const}{io_ctype(v)} *{nm}")
    if trace:
        return f"void {prefix}_run_trace({', '.join(args)}, int8_t *trace)"
    return f"void {prefix}_run({', '.join(args)})"


def _header(graph: Graph, prefix: str, plan: MemoryPlan, proto: str) -> str:
    up = prefix.upper()
    lines = [_banner(graph).rstrip(), f"#ifndef {up}_H_", f"#define {up}_H_", "",
             "#include <stdint.h>", "", "#ifdef __cplusplus", 'extern "C" {', "#endif", ""]
    for kind, vals in (("INPUT", graph.inputs), ("OUTPUT", graph.outputs)):
        for i, v in enumerate(vals):
            tag = kind if len(vals) == 1 else f"{kind}{i}"
            dims = "x".join(map(str, v.shape))
            if v.dtype is DType.b1:
                lines.append(f"/* {tag.lower()}: b1 {dims} (+-1) as {io_count(v)} uint32_t: rows "
                             "along the last axis, value c in bit c % 32 of word c / 32, set for "
                             "+1, a row's spare high bits 0 */")
            else:
                lines.append(f"/* {tag.lower()}: {v.dtype.ctype} {dims}"
                             + (f", real = {v.quant.s!r} * (q {'-' if v.quant.zp >= 0 else '+'} "
                                f"{abs(v.quant.zp)})" if v.quant and not v.quant.per_channel
                                else "") + " */")
            lines.append(f"#define {up}_{tag}_SIZE {io_count(v)}")
            if v.quant is not None and not v.quant.per_channel and v.dtype is not DType.b1:
                lines.append(f"#define {up}_{tag}_SCALE {float(np.float32(v.quant.s))!r}f")
                lines.append(f"#define {up}_{tag}_ZERO_POINT {v.quant.zp}")
    lines += [f"#define {up}_ARENA_SIZE {plan.arena_size}"]
    if spiking(graph):
        lines += ["", "/* A spiking model, one time step per run: runs `steps` time steps of a new",
                  "   sequence (reset first); in and out hold `steps` samples each, time-major. */",
                  _steps_prototype(graph, prefix) + ";"]
    if graph.stateful:
        lines += [f"#define {up}_STATE_SIZE {plan.state_size}", "",
                  "/* Restores the model's state (recurrent and variable tensors) to its initial",
                  "   values: call once before the first run, and again to start a new sequence. */",
                  f"void {prefix}_reset(void);"]
    lines += ["",
              "/* Runs one inference. Activations are NHWC; in and out are the caller's and are",
              "   not used as scratch. Not reentrant: the arena is static. */",
              proto + ";", "", "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {up}_H_ */",
              ""]
    return "\n".join(lines)


def _model_c(graph: Graph, prefix: str, plan: MemoryPlan, ctx: EmitContext, proto: str,
             profile: bool = False, check_arena: bool = False) -> str:
    out = [_banner(graph), f'#include "{prefix}.h"', '#include "ff_fixed.h"']
    out += [f'#include "{h}"' for h in sorted(ctx.headers)]
    if check_arena:
        out.append("#include <sanitizer/asan_interface.h>")
    out.append("")
    if profile:
        out += ["/* Profile build: the firmware platform's layer mark, called after each layer. */",
                "void ff_platform_mark_layer(void);", ""]
    for a in ctx.arrays:
        out.append(f"extern FF_CONST {a.ctype} {a.symbol}[{a.data.size}];")
    out.append("")
    out += ctx.structs
    out += ["", "/* The arena, aligned for 32-bit access by the union. */",
            f"static union {{ int32_t align; int8_t bytes[{max(plan.arena_size, 1)}]; }}"
            f" {prefix}_arena;", ""]
    if graph.stateful:
        out += _state_c(graph, prefix, plan)
    out.append(f"{proto} {{")
    body = "\n".join(ctx.body)
    if "(arena + " in body or ctx.plan.scratch or check_arena:
        out.append(f"    int8_t *const arena = {prefix}_arena.bytes;")
    else:
        out.append(f"    (void){prefix}_arena.bytes;")
    if "(state + " in body:
        out.append(f"    int8_t *const state = {prefix}_state.bytes;")
    read = {id(v) for n in graph.nodes for v in n.inputs}
    for i, v in enumerate(graph.inputs):
        if id(v) not in read:  # an input the model never reads (TRANSPOSE_CONV's output_shape)
            out.append(f"    (void){'in' if len(graph.inputs) == 1 else f'in{i}'};")
    out += ctx.body
    if check_arena:  # the arena addressable again between runs
        out.append(f"    ASAN_UNPOISON_MEMORY_REGION(arena, {max(plan.arena_size, 1)});")
    out += ["}", ""]
    if spiking(graph) and "_run_trace(" not in proto:
        out += _steps_c(graph, prefix)
    return "\n".join(out)


def _state_c(graph: Graph, prefix: str, plan: MemoryPlan) -> list[str]:
    """The state region and ``<prefix>_reset``: each state buffer filled with its reset value
    (TFLM's ResetVariableTensors: the zero point of int8 state, 0 otherwise)."""
    out = ["/* State kept from one run to the next; never part of the arena. */",
           f"static union {{ int32_t align; int8_t bytes[{max(plan.state_size, 1)}]; }}"
           f" {prefix}_state;", "", f"void {prefix}_reset(void) {{"]
    # what each op's reset restores (``Stateful.initial_state``: a zero point, 0, or a rate
    # encoder's seed), one value per state buffer
    fills = {id(v): a for n in graph.nodes if isinstance(n, Stateful)
             for v, a in zip(n.state, n.initial_state(), strict=True)}
    for b in plan.buffers:
        if b.storage is not Storage.STATE:
            continue
        v = b.values[0]
        start = fills.get(id(v))
        fill = reset_value(v) if start is None else int(np.asarray(start).flat[0])
        if start is not None and np.any(np.asarray(start) != fill):
            raise IRError(f"{v.name}: a reset that restores different values per element")
        ctype = v.dtype.ctype
        out += [f"    /* {_comment(v.name)}: {ctype} x {v.size} */",
                "    {", f"        {ctype} *s = ({ctype} *)({prefix}_state.bytes + {b.offset});",
                f"        for (int32_t i = 0; i < {c_literal(v.size)}; i++) {{",
                f"            s[i] = {c_literal(fill)};", "        }", "    }"]
    out += ["}", ""]
    return out


def _comment(s: str) -> str:
    return s.replace("*/", "* /").replace("\n", " ")


def _weights_c(prefix: str, arrays: list[ConstArray]) -> str:
    out = [f"/* Constants of model '{prefix}', generated by {GENERATOR}. Do not edit. */",
           "#include <stdint.h>", '#include "ff_fixed.h"', ""]
    for a in arrays:
        if a.comment:
            out.append(f"/* {a.comment.replace('*/', '* /')} */")
        out.append(f"FF_CONST {a.ctype} {a.symbol}[{a.data.size}] FF_ALIGNED(4) = {{")
        out += _rows(a.data)
        out.append("};")
    out.append("")
    return "\n".join(out)


def _rows(data: np.ndarray, per_line: int = 16) -> list[str]:
    if data.dtype.kind == "f":
        items = [f"{float(np.float32(x))!r}f" for x in data]
    else:
        items = [c_literal(int(x)) for x in data]
    return ["    " + ", ".join(items[i:i + per_line]) + "," for i in range(0, len(items), per_line)]
