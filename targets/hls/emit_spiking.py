"""Emitter of the integer LIF layer (ops/spiking.py: leaky, synaptic, recurrent; Q15 or shift
decay; subtract, zero or no reset; firing or a membrane readout). Template:
``firmware/hls/ff_hls_lif.h``; the membrane (and synaptic current) are state arrays the top
function keeps across calls."""

from __future__ import annotations

import numpy as np

from ...converter.ir import DType, reset_value
from ...converter.ops.spiking import DecayMode, Lif, Reset
from .context import HlsContext, unsupported
from .emit import emit
from .estimate import simple_layer
from .widths import ctype, signed_bits

HEADER = "ff_hls_lif.h"
_RESET = {Reset.SUBTRACT: 0, Reset.ZERO: 1, Reset.NONE: 2}


@emit.register
def _lif(node: Lif, ctx: HlsContext) -> None:
    if node.current.dtype is not DType.s32:
        raise unsupported(node, f"with a {node.current.dtype.value} current (the HLS template "
                          "steps integer layers)")
    n, ch = node.current.size, node.neurons
    mem_t = ctype(node.state[-1])

    def per_neuron(v) -> np.ndarray:
        return np.broadcast_to(np.asarray(v.data, np.int64).ravel(), (ch,)) \
            if v.data.size == 1 else np.asarray(v.data, np.int64).ravel()

    beta, thr = per_neuron(node.beta), per_neuron(node.threshold)
    alpha = per_neuron(node.alpha) if node.synaptic else np.zeros(1, np.int64)
    w_rec = node.w_rec.data if node.recurrent else np.zeros(1, np.int64)
    pars = np.concatenate([beta, thr, alpha])
    par_bits = max(signed_bits(int(pars.min()), int(pars.max())), 17)
    # |I| + |decay(mem)| + |thr| + ch * 128 (recurrent spikes) in int64 in the reference: at
    # most 3 * 2^31 + ch * 128 here, since every operand is an int32
    bound = 3 * (1 << 31) + ch * 128
    ints = {"n": n, "ch": ch, "n_syn": n if node.synaptic else 1,
            "n_alpha": ch if node.synaptic else 1, "n_rec": w_rec.size, "reuse": ctx.reuse,
            "unroll": max(1, -(-n // ctx.reuse)), "fires": node.fires,
            "synaptic": node.synaptic, "recurrent": node.recurrent,
            "reset": _RESET[node.reset], "decay_shift": node.decay_mode is DecayMode.SHIFT,
            "mem_lo": node.membrane.qmin, "mem_hi": node.membrane.qmax}
    types = {"cur_t": ctype(node.current), "mem_t": mem_t, "out_t": ctype(node.y),
             "par_t": f"ff_int<{par_bits}>",
             "sum_t": f"ff_int<{signed_bits(-bound, bound)}>"}
    cfg = ctx.config(ints, types)
    bs = ctx.const("beta", types["par_t"], beta, node.beta.name)
    ts = ctx.const("thr", types["par_t"], thr, node.threshold.name)
    als = ctx.const("alpha", types["par_t"], alpha, node.alpha.name if node.alpha else "unused")
    ws = ctx.const("w_rec", "ff_int<8>", w_rec, node.w_rec.name if node.w_rec else "unused")
    mem = ctx.state("mem", mem_t, n, reset_value(node.state[-1]))
    syn = ctx.state("syn", mem_t, n, reset_value(node.state[0])) if node.synaptic \
        else ctx.state("syn_unused", mem_t, 1, 0)
    ctx.call(HEADER, f"ff_hls_lif<{cfg}>({ctx.buf(node.current)}, {ctx.buf(node.y)}, {mem}, "
                     f"{syn}, {bs}, {ts}, {als}, {ws})")
    ctx.estimate(simple_layer(ctx.layer, node.kind, ctx.reuse, -(-n // ints["unroll"]),
                              depth=6 + (ch if node.recurrent else 0), adders=3 * n,
                              table_bits=pars.size * par_bits + w_rec.size * 8,
                              # Q15 decays multiply the membrane (and current) by beta (alpha)
                              multipliers=0 if ints["decay_shift"] else n * (1 + node.synaptic)))
