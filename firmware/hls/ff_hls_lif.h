/* firmforge HLS layer templates: leaky integrate-and-fire neurons, one time step per call,
 * with the optional synaptic current and recurrent spikes (ops/spiking.py), integer form:
 *   decay(v, b) = (v * b + 2^14) >> 15        Q15 multiplier b in [0, 2^15]   (decay_shift 0)
 *   decay(v, k) = v - (v >> k)                shift decay, one k per layer    (decay_shift 1)
 *   r[t]   = mem[t-1] > thr                   previous step's spike (0 when the layer never fires)
 *   d[t]   = I[t] + sum_j r_j[t] * w_rec[n][j]                           (recurrent)
 *   syn[t] = sat(decay(syn[t-1], alpha) + d[t]);  d[t] = syn[t]          (synaptic)
 *   mem[t] = sat(decay(mem[t-1], beta) + d[t] - r[t] * thr)              reset 0: subtract
 *            (reset 1: zero, mem[t-1] = 0 where r[t]; reset 2: none, no subtraction)
 *   y[t]   = mem[t] > thr (strictly, as snnTorch computes)   or mem[t] when the layer does not fire
 * sat clamps to the membrane type (s16 or s32). The state lives in the caller (the top
 * function keeps it across calls). CFG: n (elements), ch (neurons: the last axis), rows,
 * reuse, unroll, fires, synaptic, recurrent, reset, decay_shift, mem_lo, mem_hi, cur_t,
 * mem_t, out_t, par_t, sum_t (holds |I| + |mem| + |thr| + ch * 128 exactly).
 */
#ifndef FF_HLS_LIF_H
#define FF_HLS_LIF_H

#include "ff_hls_types.h"

template <class CFG>
inline typename CFG::sum_t ff_hls_decay(typename CFG::sum_t v, typename CFG::par_t f) {
#pragma HLS INLINE
    if (CFG::decay_shift) {
        typename CFG::sum_t v_shift = v >> ff_hls_ll(f);
        return v - v_shift;
    }
    ff_int<64> p = ff_int<64>(v) * f + ff_int<64>(1 << 14);
    typename CFG::sum_t q = p >> 15;
    return q;
}

template <class CFG>
void ff_hls_lif(const typename CFG::cur_t cur[CFG::n], typename CFG::out_t y[CFG::n],
                typename CFG::mem_t mem[CFG::n], typename CFG::mem_t syn[CFG::n_syn],
                const typename CFG::par_t beta[CFG::ch], const typename CFG::par_t thr[CFG::ch],
                const typename CFG::par_t alpha[CFG::n_alpha],
                const ff_int<8> w_rec[CFG::n_rec]) {
    ff_uint<1> r[CFG::n];
#pragma HLS ARRAY_PARTITION variable = r cyclic factor = CFG::unroll
Spikes:
    for (int i = 0; i < CFG::n; i++) {
#pragma HLS UNROLL factor = CFG::unroll
        r[i] = CFG::fires && mem[i] > thr[i % CFG::ch] ? 1 : 0;
    }
Neurons:
    for (int i = 0; i < CFG::n; i++) {
#pragma HLS PIPELINE II = CFG::reuse
#pragma HLS UNROLL factor = CFG::unroll
        int c = i % CFG::ch;
        typename CFG::sum_t d = cur[i];
        if (CFG::recurrent) {
            int row = i - c;
        Rec:
            for (int j = 0; j < CFG::ch; j++) {
                if (r[row + j]) d += w_rec[c * CFG::ch + j];
            }
        }
        if (CFG::synaptic) {
            long long s = ff_hls_ll(ff_hls_decay<CFG>(syn[i], alpha[CFG::n_alpha > 1 ? c : 0]) + d);
            s = ff_hls_clamp(s, CFG::mem_lo, CFG::mem_hi);
            syn[i] = s;
            d = s;
        }
        typename CFG::sum_t prev = mem[i];
        if (CFG::reset == 1 && r[i]) prev = 0;
        typename CFG::sum_t m = ff_hls_decay<CFG>(prev, beta[c]) + d;
        if (CFG::reset == 0 && r[i]) m -= thr[c];
        long long mv = ff_hls_clamp(ff_hls_ll(m), CFG::mem_lo, CFG::mem_hi);
        mem[i] = mv;
        if (CFG::fires)
            y[i] = mv > ff_hls_ll(thr[c]) ? 1 : 0;
        else
            y[i] = mv;
    }
}

#endif
