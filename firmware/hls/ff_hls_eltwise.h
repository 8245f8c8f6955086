/* firmforge HLS layer templates: elementwise ops (add/sub with TFLM's rescaling, standalone
 * ReLU / ReLU6, requantization, binarization, and the copy a reshape is on flat arrays).
 *
 * Every loop is over n elements, unrolled by n / reuse (CFG::unroll) and pipelined.
 */
#ifndef FF_HLS_ELTWISE_H
#define FF_HLS_ELTWISE_H

#include "ff_hls_fixed.h"

/* TFLM's int8 ADD/SUB (ops/eltwise.py), every element:
 *   v_i = (x_i - zp_i) * 2^left_shift           (fits int32: 255 * 2^20 < 2^31)
 *   w_i = rdbpot(srdhm(v_i, M_i), -S_i)         (S_i <= 0)
 *   y   = clamp(rdbpot(srdhm(w_a +- w_b, M_o), -S_o) + zp_y, lo, hi)
 * CFG: n, reuse, unroll, sub, left_shift, zp_a, zp_b, zp_y, mult_a, shift_a, mult_b, shift_b,
 * mult_out, shift_out, out_lo, out_hi, a_t, b_t, out_t. */
template <class CFG>
void ff_hls_add(const typename CFG::a_t a[CFG::n], const typename CFG::b_t b[CFG::n],
                typename CFG::out_t y[CFG::n]) {
Elements:
    for (int i = 0; i < CFG::n; i++) {
#pragma HLS PIPELINE II = CFG::reuse
#pragma HLS UNROLL factor = CFG::unroll
        ff_int<32> va = ff_int<32>(a[i] - ff_int<10>(CFG::zp_a)) << CFG::left_shift;
        ff_int<32> vb = ff_int<32>(b[i] - ff_int<10>(CFG::zp_b)) << CFG::left_shift;
        ff_int<32> wa = ff_hls_mbqm_small(va, ff_int<32>(CFG::mult_a), CFG::shift_a);
        ff_int<32> wb = ff_hls_mbqm_small(vb, ff_int<32>(CFG::mult_b), CFG::shift_b);
        ff_int<32> raw = CFG::sub ? ff_int<32>(wa - wb) : ff_int<32>(wa + wb);
        long long v = ff_hls_ll(ff_hls_mbqm_small(raw, ff_int<32>(CFG::mult_out), CFG::shift_out));
        y[i] = ff_hls_clamp(v + CFG::zp_y, CFG::out_lo, CFG::out_hi);
    }
}

/* Requantization of one tensor (standalone ReLU, QUANTIZE between integer types):
 *   y = clamp(wrap32(mbqm(x - zp_x, M, S) + zp_y), lo, hi)
 * ReLU is this with lo = max(qmin, zp_y) (TFLM's ReluQuantized); an s32 output is not
 * clamped (lo, hi = the int32 range) but wraps as TFLM's int32 addition does.
 * CFG: n, reuse, unroll, zp_x, zp_y, mult, shift, out_lo, out_hi, in_t, xd_t, out_t. */
template <class CFG>
void ff_hls_requantize(const typename CFG::in_t x[CFG::n], typename CFG::out_t y[CFG::n]) {
Elements:
    for (int i = 0; i < CFG::n; i++) {
#pragma HLS PIPELINE II = CFG::reuse
#pragma HLS UNROLL factor = CFG::unroll
        typename CFG::xd_t xd = x[i] - typename CFG::xd_t(CFG::zp_x);
        ff_int<64> scaled = ff_hls_mbqm(xd, ff_int<32>(CFG::mult), CFG::shift);
        ff_int<32> v = scaled + ff_int<64>(CFG::zp_y);       /* wrap32 */
        y[i] = ff_hls_clamp(ff_hls_ll(v), CFG::out_lo, CFG::out_hi);
    }
}

/* A clamp alone (standalone ReLU6: TFLM clamps the input bytes, input and output share
 * their parameters). CFG: n, reuse, unroll, out_lo, out_hi, in_t, out_t. */
template <class CFG>
void ff_hls_clamp_layer(const typename CFG::in_t x[CFG::n], typename CFG::out_t y[CFG::n]) {
Elements:
    for (int i = 0; i < CFG::n; i++) {
#pragma HLS PIPELINE II = CFG::reuse
#pragma HLS UNROLL factor = CFG::unroll
        y[i] = ff_hls_clamp(ff_hls_ll(x[i]), CFG::out_lo, CFG::out_hi);
    }
}

/* The sign that enters a binary region (ops/binary.py): per channel c = i % C
 *   y = ((x >= t[c]) != flip[c])   as a bit (1: +1, 0: -1).
 * CFG: n, c, reuse, unroll, in_t, t_t. */
template <class CFG>
void ff_hls_binarize(const typename CFG::in_t x[CFG::n], ff_uint<1> y[CFG::n],
                     const typename CFG::t_t t[CFG::c], const ff_uint<1> flip[CFG::c]) {
Elements:
    for (int i = 0; i < CFG::n; i++) {
#pragma HLS PIPELINE II = CFG::reuse
#pragma HLS UNROLL factor = CFG::unroll
        bool up = x[i] >= t[i % CFG::c];
        y[i] = (up != (flip[i % CFG::c] == 1)) ? 1 : 0;
    }
}

/* Reshape: activations are flat row-major (NHWC) arrays, so a reshape moves nothing; the copy
 * keeps one array per value (HLS removes it). */
template <class T, int N>
void ff_hls_copy(const T x[N], T y[N]) {
Elements:
    for (int i = 0; i < N; i++) {
#pragma HLS UNROLL
        y[i] = x[i];
    }
}

#endif
