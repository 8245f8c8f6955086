"""BinaryDense and BinaryConv2d with weights stored ``MSTRows`` (MST channel reuse,
``converter/mst_tree.py``; kernels in ff_bnn_mst.h). ``emit_binary.py``'s emitters hand a layer
here when its weights are stored so; the outputs are those of ff_bnn.h's row kernels: b1 (dot
>= thresholds) or s8 (the int8 layers' records, as ``emit_binary.py`` writes them).

The kernels keep every channel's mismatch in int32 scratch from the arena (4 bytes per output
channel), since a channel's result is read by its children in the tree's order, not in the
output's: an s8 output row is one byte per channel and a b1 row one bit, too narrow to hold
them. A convolution also gathers each output pixel's taps there (and with pad_value 0 a word
mask of the taps that are real)."""

from __future__ import annotations

import numpy as np

from ...converter.bitstream import row_words
from ...converter.ir import DType
from ...converter.mst_tree import MSTRows
from ...converter.ops.binary import BinaryConv2d, BinaryDense
from . import pairs
from .context import EmitContext, Kernel
from .emit import data_input, unsupported
from .sparse import records

_HEADER = "ff_bnn_mst.h"


def stored_mst(node: BinaryDense | BinaryConv2d) -> bool:
    """Whether the layer's weights are stored for channel reuse (the dispatch of emit_binary)."""
    return isinstance(node.inputs[1].encoding, MSTRows)


def _scratch(node: BinaryDense | BinaryConv2d) -> int:
    """Bytes of scratch (ff_bnn_mst.h): the mismatches, for a conv the gathered patch too."""
    w = node.inputs[1]
    out = 4 * w.shape[0]
    if isinstance(node, BinaryConv2d):
        _, kh, kw, c = w.shape
        out += 4 * kh * kw * row_words(c) * (2 if node.pad_value == 0 else 1)
    return out


def mst_kernel(node: BinaryDense | BinaryConv2d) -> Kernel:
    """The kernel of a binary layer whose weights are stored ``MSTRows``."""
    data_input(node)
    op = "dense" if isinstance(node, BinaryDense) else "conv2d"
    params = f"ff_{op}_b1_mst_params"
    out = node.y.dtype
    if out is DType.b1:
        return Kernel(f"ff_{op}_b1_mst", _HEADER, params, scratch=_scratch(node), decodes=(1,))
    if out is DType.s8:
        o = node.inputs[1].shape[0]
        if not pairs.multipliers_ok(np.broadcast_to(node.requant()[0], (o,))):
            raise unsupported(node, "multipliers other than 0 or in [2**30, 2**31)")
        return Kernel(f"ff_{op}_b1_mst_s8", _HEADER, params, scratch=_scratch(node),
                      decodes=(1,))
    raise unsupported(node, f"{out.value} output with weights stored {MSTRows()}")


def _out(ctx: EmitContext, node: BinaryDense | BinaryConv2d) -> tuple[str, str, dict[str, int]]:
    """The per-channel array (thresholds or records), the output pointer and the output's
    struct fields."""
    t = node.inputs[2]
    if node.y.dtype is DType.b1:
        thr = ctx.array("thr", t.data.astype(np.int32), "int32_t", f"{t.name}: dot >= thr")
        return thr, f"(uint32_t *){ctx.ptr(node.y)}", dict(out_offset=0, act_min=-1, act_max=1)
    rec = ctx.array("rec", records(node), "int32_t",
                    f"{t.name}: {{bias, 2 * multiplier, k, left shift}}")
    lo, hi = node.act_range()
    return rec, ctx.ptr(node.y), dict(out_offset=node.y.quant.zp, act_min=lo, act_max=hi)


def emit_mst(node: BinaryDense | BinaryConv2d, ctx: EmitContext) -> None:
    """The call of ``mst_kernel(node)``."""
    x, w, _ = node.inputs
    last, y, fields = _out(ctx, node)
    if isinstance(node, BinaryDense):
        o, k = w.shape
        p = ctx.params(rows=x.size // k, in_features=k, out_features=o, **fields)
    else:
        n, ih, iw, c = x.shape
        _, oh, ow, o = node.y.shape
        _, kh, kw, _ = w.shape
        p = ctx.params(batches=n, in_h=ih, in_w=iw, in_c=c, out_h=oh, out_w=ow, out_c=o,
                       k_h=kh, k_w=kw, stride_h=node.stride[0], stride_w=node.stride[1],
                       dil_h=node.dilation[0], dil_w=node.dilation[1],
                       pad_top=node.padding.top, pad_left=node.padding.left,
                       pad_value=node.pad_value, **fields)
    arrays = ctx.const_arrays(w)
    ctx.call_kernel(p, f"(uint32_t *){ctx.ptr(x)}", arrays["steps"], arrays["full"],
                    arrays["diffs"], last, y, ctx.scratch())
