"""Kernel descriptors and calls of Dense and Conv2d with compressed weights (``ff_sparse.h``):
int8 activations, int8 or int4 weights stored ``Bitmask(0)``, ``CSR(0)``, ``NM(n, m, 0)`` or
``Codebook(bits)``, int8 weights stored ``BlockCSR(0)``. ``emit_dense`` and ``emit_conv`` hand
such layers here.

The kernels read the encoding's own arrays (``EmitContext.const_arrays``, the bytes
``Value.nbytes`` counts) and one prepared record per output channel, ``pairs.records``: the
bias with the input offset folded in, and the requantization of ``ff_requant_pre``. A Conv2d
gathers each output pixel's patch into scratch (``k_h * k_w * in_c`` bytes), its padded taps
set to the input zero point, which the folded offset cancels (``ff_sparse.h``).

A layer the kernels cannot compute raises ``UnsupportedOpError`` naming why: a format on
another axis than the output channels, more than FF_SPARSE_MAX_C columns, a Conv2d of several
groups, int4 weights stored BlockCSR, or multipliers outside what ``ff_requant_pre`` takes.
"""

from __future__ import annotations

import numpy as np

from ...converter.encoding import CSR, NM, Bitmask, BlockCSR, Codebook, Encoding
from ...converter.ir import DType, Node
from ...converter.ops.common import Padding
from ...converter.ops.conv import Conv2d
from ...converter.ops.dense import Dense
from . import pairs
from .context import EmitContext, Kernel
from .emit import UnsupportedOpError, unsupported

FORMATS: dict[type[Encoding], str] = {Bitmask: "bitmask", CSR: "csr", BlockCSR: "bcsr",
                                      NM: "nm", Codebook: "codebook"}
MAX_COLUMNS = 1 << 16  # FF_SPARSE_MAX_C: products summed exactly in int32
CSR8_COLUMNS = 1 << 8  # up to this many columns (Block)CSR's col_idx is uint8_t (encoding.py)
_INT8_ONLY = (BlockCSR,)  # formats whose kernels take int8 weights only
_WEIGHT_WORDS = {DType.s8: "s8", DType.s4: "s8_s4"}


def compressed(node: Node) -> bool:
    """True when ``node``'s weights are stored in one of the formats of this module."""
    w = node.inputs[1]
    return w.is_const and type(w.encoding) in FORMATS


def _columns(node: Dense | Conv2d) -> int:
    w = node.inputs[1]
    return w.size // w.shape[0]


def sparse_kernel(node: Dense | Conv2d) -> Kernel:
    """The kernel of a Dense or Conv2d whose weights are stored compressed, or
    UnsupportedOpError."""
    x, w, b = node.inputs
    enc = w.encoding
    what = f"{w.dtype.value} weights stored {enc}"
    if (x.dtype, b.dtype, node.y.dtype) != (DType.s8, DType.s32, DType.s8) \
            or w.dtype not in _WEIGHT_WORDS:
        raise unsupported(node, f"{x.dtype.value} inputs with {what}")
    if not b.is_const:
        raise unsupported(node, f"{what} and a computed bias")
    if isinstance(enc, _INT8_ONLY) and w.dtype is not DType.s8:
        raise unsupported(node, f"{what}: its kernels take int8 weights only")
    if getattr(enc, "axis", 0) % len(w.shape) != 0:
        raise unsupported(node, f"{what}: the rows must be the output channels (axis 0)")
    if _columns(node) > MAX_COLUMNS:
        raise unsupported(node, f"{what}: {_columns(node)} weights per output channel, more "
                                f"than {MAX_COLUMNS}")
    conv = isinstance(node, Conv2d)
    if conv and node.groups != 1:
        raise unsupported(node, f"{what} and {node.groups} groups")
    _check_requant(node, what)
    fmt = FORMATS[type(enc)]
    if isinstance(enc, (CSR, BlockCSR)) and _columns(node) > CSR8_COLUMNS:
        fmt += "16"
    op = "conv2d" if conv else "dense"
    params = "ff_conv2d_sparse_params" if conv else "ff_dense_sparse_params"
    scratch = (_columns(node) + 3) // 4 * 4 if conv and _gathers(node) else 0
    return Kernel(f"ff_{op}_{_WEIGHT_WORDS[w.dtype]}_{fmt}", "ff_sparse.h", params,
                  scratch=scratch, decodes=(1,), inplace=False)


def _gathers(node: Conv2d) -> bool:
    """False when every patch is read in place: one contiguous run of x inside the image (a
    kernel of one row of undilated taps, no padding)."""
    _, kh, kw, _ = node.inputs[1].shape
    contiguous = kh == 1 and (kw == 1 or node.dilation[1] == 1)
    return not (contiguous and node.padding == Padding())


def _check_requant(node: Dense | Conv2d, what: str) -> None:
    o = node.inputs[1].shape[0]
    if not pairs.multipliers_ok(np.broadcast_to(node.requant()[0], (o,))):
        raise unsupported(node, f"{what}: multipliers other than 0 or in [2**30, 2**31)")


# The record of a channel of multiplier 0: ff_requant_pre gives out_offset whatever the sum,
# k = 1 rounding any |v| < 2**31 to 0 (ff_sparse.h).
DEAD_RECORD = (0, 0, 1, 0)


def records(node: Dense | Conv2d) -> np.ndarray:
    """int32 records {bias', 2 mult, k, left} per output channel (``pairs.records``), those of
    multiplier 0 replaced by DEAD_RECORD (their stored weights need not be zero)."""
    x, w, b = node.inputs
    o = w.shape[0]
    mult, shift = (np.broadcast_to(a, (o,)) for a in node.requant())
    rec = pairs.records(w.data.reshape(o, -1), b.data, -x.quant.zp, mult, shift).reshape(o, 4)
    rec[mult == 0] = DEAD_RECORD
    return rec.ravel()


def _fields(node: Dense | Conv2d) -> dict[str, int]:
    """The format fields of the parameter struct (n, m, bits)."""
    enc = node.inputs[1].encoding
    if isinstance(enc, NM):
        return dict(n=enc.n, m=enc.m, bits=enc.index_bits)
    if isinstance(enc, Codebook):
        return dict(n=0, m=0, bits=enc.index_bits)
    return dict(n=0, m=0, bits=0)


# The arrays of each format, in the order the kernels take them (ff_sparse.h).
_ARRAYS = {Bitmask: ("mask", "values"), CSR: ("row_ptr", "col_idx", "values"),
           BlockCSR: ("block_ptr", "col_idx", "values"), NM: ("indices", "values"),
           Codebook: ("table", "indices")}


def emit_sparse(node: Dense | Conv2d, ctx: EmitContext) -> None:
    """The call of ``sparse_kernel(node)``: the weight's stored arrays, the records
    {bias', 2 mult, k, left} per output channel and the parameters."""
    if ctx.kernel.header != "ff_sparse.h":
        raise UnsupportedOpError(f"{node.name}: {ctx.kernel.fn} is not a compressed-weight "
                                 "kernel")
    x, w, b = node.inputs
    o = w.shape[0]
    rec = ctx.array("rec", records(node), "int32_t",
                    f"{b.name}: {{bias with the input offset folded in, 2 * multiplier, k, "
                    "left shift}")
    syms = ctx.const_arrays(w)
    arrays = [syms[a] for a in _ARRAYS[type(w.encoding)]]
    lo, hi = node.act_range()
    common = dict(out_offset=node.y.quant.zp, act_min=lo, act_max=hi, **_fields(node))
    if isinstance(node, Conv2d):
        n, ih, iw, c = x.shape
        _, oh, ow, _ = node.y.shape
        _, kh, kw, _ = w.shape
        p = ctx.params(batches=n, in_h=ih, in_w=iw, in_c=c, out_h=oh, out_w=ow, out_c=o,
                       k_h=kh, k_w=kw, stride_h=node.stride[0], stride_w=node.stride[1],
                       dil_h=node.dilation[0], dil_w=node.dilation[1],
                       pad_top=node.padding.top, pad_left=node.padding.left,
                       pad_value=x.quant.zp, **common)
        scratch = ctx.scratch() if ctx.kernel.scratch else "0"  # (never read: no gathers)
        ctx.call_kernel(p, ctx.ptr(x), *arrays, rec, ctx.ptr(node.y), scratch)
        return
    k = w.shape[1]
    p = ctx.params(rows=x.size // k, in_features=k, out_features=o, **common)
    ctx.call_kernel(p, ctx.ptr(x), *arrays, rec, ctx.ptr(node.y))
