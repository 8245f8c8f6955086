/* firmforge HLS layer templates: dense layers (int8 with fused requantization, the s32
 * current of a spiking layer, and binary XNOR-popcount).
 *
 * CFG, a struct the generator writes per layer, carries the sizes, the reuse factor and the
 * types with their widths:
 *   n_rows, n_in, n_out    rows (leading dimensions), inputs and outputs per row
 *   reuse, w_banks, mult_limit
 *                          reuse factor R: each multiplier serves R products, so the row
 *                          pipeline starts every R cycles (II = R), the weights are split into
 *                          ceil(n_in * n_out / R) banks and at most mult_limit multipliers exist
 *   in_zp, out_zp, out_lo, out_hi   zero points and the fused activation's clamp
 *   shift                  (currents) the power of two of the membrane scale
 *   in_t, xd_t, w_t, dot_t, acc_t, bias_t, out_t
 *                          x; x - zp; weights; the sum of products; sum plus bias; bias; y.
 *                          dot_t / acc_t hold sum_k |w[o][k]| * max|x - zp| (+ max|b|) exactly.
 */
#ifndef FF_HLS_DENSE_H
#define FF_HLS_DENSE_H

#include "ff_hls_fixed.h"

/* dot[o] = sum_k (x[k] - zp_x) * w[o][k] for one row; w is row-major (O, K). Padding or
 * spike inputs need no special case: a zero point of 0 reads spikes (u1) as they are. */
template <class CFG>
void ff_hls_dense_dot(const typename CFG::in_t x[CFG::n_in],
                      const typename CFG::w_t w[CFG::n_out * CFG::n_in],
                      typename CFG::dot_t dot[CFG::n_out]) {
#pragma HLS INLINE
Out:
    for (int o = 0; o < CFG::n_out; o++) {
#pragma HLS UNROLL
        typename CFG::dot_t acc = 0;
    In:
        for (int k = 0; k < CFG::n_in; k++) {
#pragma HLS UNROLL
            typename CFG::xd_t xd = x[k] - typename CFG::xd_t(CFG::in_zp);
            acc += xd * w[o * CFG::n_in + k];
        }
        dot[o] = acc;
    }
}

/* y[o] = clamp(mbqm(b[o] + dot[o], M[o], S[o]) + zp_y, lo, hi)   (TFLM's FULLY_CONNECTED) */
template <class CFG>
inline typename CFG::out_t ff_hls_requant_out(typename CFG::acc_t acc, ff_int<32> mult, int shift) {
#pragma HLS INLINE
    long long v = ff_hls_ll(ff_hls_mbqm(acc, mult, shift)) + CFG::out_zp;
    return ff_hls_clamp(v, CFG::out_lo, CFG::out_hi);
}

template <class CFG>
void ff_hls_dense(const typename CFG::in_t x[CFG::n_rows * CFG::n_in],
                  typename CFG::out_t y[CFG::n_rows * CFG::n_out],
                  const typename CFG::w_t w[CFG::n_out * CFG::n_in],
                  const typename CFG::bias_t b[CFG::n_out], const ff_int<32> mult[CFG::n_out],
                  const ff_int<6> shift[CFG::n_out]) {
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = CFG::w_banks
#pragma HLS ALLOCATION operation instances = mul limit = CFG::mult_limit
Rows:
    for (int r = 0; r < CFG::n_rows; r++) {
#pragma HLS PIPELINE II = CFG::reuse
        typename CFG::dot_t dot[CFG::n_out];
#pragma HLS ARRAY_PARTITION variable = dot complete
        ff_hls_dense_dot<CFG>(x + r * CFG::n_in, w, dot);
    Requant:
        for (int o = 0; o < CFG::n_out; o++) {
#pragma HLS UNROLL
            typename CFG::acc_t acc = dot[o] + b[o];
            y[r * CFG::n_out + o] = ff_hls_requant_out<CFG>(acc, mult[o], ff_hls_ll(shift[o]));
        }
    }
}

/* The input current of a spiking layer (ops/synapse.py): I[o] = b[o] + 2^shift * dot[o],
 * exact (the converter bounds it inside int32); no requantization. */
template <class CFG>
void ff_hls_dense_current(const typename CFG::in_t x[CFG::n_rows * CFG::n_in],
                          typename CFG::out_t y[CFG::n_rows * CFG::n_out],
                          const typename CFG::w_t w[CFG::n_out * CFG::n_in],
                          const typename CFG::bias_t b[CFG::n_out]) {
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = CFG::w_banks
#pragma HLS ALLOCATION operation instances = mul limit = CFG::mult_limit
Rows:
    for (int r = 0; r < CFG::n_rows; r++) {
#pragma HLS PIPELINE II = CFG::reuse
        typename CFG::dot_t dot[CFG::n_out];
#pragma HLS ARRAY_PARTITION variable = dot complete
        ff_hls_dense_dot<CFG>(x + r * CFG::n_in, w, dot);
    Scale:
        for (int o = 0; o < CFG::n_out; o++) {
#pragma HLS UNROLL
            typename CFG::acc_t acc = dot[o];
            y[r * CFG::n_out + o] = (acc << CFG::shift) + b[o];
        }
    }
}

/* Binary dense (ops/binary.py): bit 1 stands for +1, bit 0 for -1, so per output
 *   dot[o] = sum_k x[k] * w[o][k] = K - 2 * popcount(x xor w[o])
 * and the output is  b1: y = dot >= t[o]   or   s8: clamp(mbqm(t[o] + dot, M[o], S[o]) + zp).
 * No multiplier at all: XOR gates and a popcount adder tree. Each output's weights are one
 * K-bit word (row_t = ff_uint<K>, bit k = weight k), the natural shape for the XOR. */
template <class CFG>
inline typename CFG::dot_t ff_hls_xnor_dot(const ff_uint<1> x[CFG::n_in],
                                           const typename CFG::row_t w[CFG::n_out], int o) {
#pragma HLS INLINE
    typename CFG::pop_t pop = 0;
Taps:
    for (int k = 0; k < CFG::n_in; k++) {
#pragma HLS UNROLL
        bool xb = x[k] == 1;
        bool wb = w[o][k];
        pop += ff_uint<1>(xb != wb);
    }
    typename CFG::dot_t dot = typename CFG::dot_t(CFG::n_in) - (typename CFG::dot_t(pop) << 1);
    return dot;
}

/* A K-bit weight row from 32-bit chunks (lowest first): a few operations per row where one
 * initializer per weight bit would make the C++ compiler's static initialization huge. */
template <int K, int N>
inline ff_uint<K> ff_hls_bit_row(const unsigned (&chunks)[N]) {
    ff_uint<K> row = chunks[N - 1];
    for (int i = N - 2; i >= 0; i--) {  /* N > 1 only when K > 32: never a shift by the width */
        row <<= 32;
        row |= ff_uint<K>(chunks[i]);
    }
    return row;
}

template <class CFG>
void ff_hls_binary_dense_b1(const ff_uint<1> x[CFG::n_rows * CFG::n_in],
                            ff_uint<1> y[CFG::n_rows * CFG::n_out],
                            const typename CFG::row_t w[CFG::n_out],
                            const typename CFG::bias_t t[CFG::n_out]) {
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = CFG::w_banks
Rows:
    for (int r = 0; r < CFG::n_rows; r++) {
#pragma HLS PIPELINE II = CFG::reuse
    Out:
        for (int o = 0; o < CFG::n_out; o++) {
#pragma HLS UNROLL
            typename CFG::dot_t dot = ff_hls_xnor_dot<CFG>(x + r * CFG::n_in, w, o);
            y[r * CFG::n_out + o] = dot >= t[o] ? 1 : 0;
        }
    }
}

template <class CFG>
void ff_hls_binary_dense_s8(const ff_uint<1> x[CFG::n_rows * CFG::n_in],
                            typename CFG::out_t y[CFG::n_rows * CFG::n_out],
                            const typename CFG::row_t w[CFG::n_out],
                            const typename CFG::bias_t b[CFG::n_out],
                            const ff_int<32> mult[CFG::n_out], const ff_int<6> shift[CFG::n_out]) {
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = CFG::w_banks
Rows:
    for (int r = 0; r < CFG::n_rows; r++) {
#pragma HLS PIPELINE II = CFG::reuse
    Out:
        for (int o = 0; o < CFG::n_out; o++) {
#pragma HLS UNROLL
            typename CFG::acc_t acc = ff_hls_xnor_dot<CFG>(x + r * CFG::n_in, w, o) + b[o];
            y[r * CFG::n_out + o] = ff_hls_requant_out<CFG>(acc, mult[o], ff_hls_ll(shift[o]));
        }
    }
}

#endif
