/* firmforge HLS layer templates: 2-D convolution (NHWC, OHWI weights, one group), int8 with
 * fused requantization and the s32 current of a spiking layer. Conv1d is this with H = 1.
 *
 * Each output pixel is a dense layer over its window (the patch):
 *   patch[(ky * KW + kx) * C + c] = x[iy, ix, c]   iy = oy * SH - PT + ky * DH, ix likewise,
 *                                   or zp_x where (iy, ix) lies in the padding, so that
 *                                   patch - zp_x is 0 there and padding adds nothing (TFLM)
 *   acc[o] = b[o] + sum_j (patch[j] - zp_x) * w[o][j],   y[o] = clamp(mbqm(acc[o]) + zp_y)
 * The pixel loop is pipelined with II = reuse; the weights are read by every pixel, so the
 * multipliers are shared over pixels and the weights are banked for one pixel's products.
 * CFG adds to the dense fields (ff_hls_dense.h): in_h, in_w, in_c, out_h, out_w, k_h, k_w,
 * stride_h, stride_w, dil_h, dil_w, pad_t, pad_l; n_in = k_h * k_w * in_c.
 */
#ifndef FF_HLS_CONV_H
#define FF_HLS_CONV_H

#include "ff_hls_dense.h"

template <class CFG>
void ff_hls_conv_patch(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::in_c], int oy,
                       int ox, typename CFG::in_t patch[CFG::n_in]) {
#pragma HLS INLINE
Ky:
    for (int ky = 0; ky < CFG::k_h; ky++) {
    Kx:
        for (int kx = 0; kx < CFG::k_w; kx++) {
            int iy = oy * CFG::stride_h - CFG::pad_t + ky * CFG::dil_h;
            int ix = ox * CFG::stride_w - CFG::pad_l + kx * CFG::dil_w;
            bool inside = iy >= 0 && iy < CFG::in_h && ix >= 0 && ix < CFG::in_w;
        C:
            for (int c = 0; c < CFG::in_c; c++) {
                patch[(ky * CFG::k_w + kx) * CFG::in_c + c] =
                    inside ? x[(iy * CFG::in_w + ix) * CFG::in_c + c]
                           : typename CFG::in_t(CFG::in_zp);
            }
        }
    }
}

template <class CFG>
void ff_hls_conv2d(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::in_c],
                   typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::n_out],
                   const typename CFG::w_t w[CFG::n_out * CFG::n_in],
                   const typename CFG::bias_t b[CFG::n_out], const ff_int<32> mult[CFG::n_out],
                   const ff_int<6> shift[CFG::n_out]) {
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = CFG::w_banks
#pragma HLS ALLOCATION operation instances = mul limit = CFG::mult_limit
Pixels:
    for (int p = 0; p < CFG::out_h * CFG::out_w; p++) {
#pragma HLS PIPELINE II = CFG::reuse
        typename CFG::in_t patch[CFG::n_in];
#pragma HLS ARRAY_PARTITION variable = patch complete
        typename CFG::dot_t dot[CFG::n_out];
#pragma HLS ARRAY_PARTITION variable = dot complete
        ff_hls_conv_patch<CFG>(x, p / CFG::out_w, p % CFG::out_w, patch);
        ff_hls_dense_dot<CFG>(patch, w, dot);
    Requant:
        for (int o = 0; o < CFG::n_out; o++) {
#pragma HLS UNROLL
            typename CFG::acc_t acc = dot[o] + b[o];
            y[p * CFG::n_out + o] = ff_hls_requant_out<CFG>(acc, mult[o], ff_hls_ll(shift[o]));
        }
    }
}

/* Conv2dCurrent (ops/synapse.py): I[o] = b[o] + 2^shift * dot[o] per output pixel. */
template <class CFG>
void ff_hls_conv2d_current(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::in_c],
                           typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::n_out],
                           const typename CFG::w_t w[CFG::n_out * CFG::n_in],
                           const typename CFG::bias_t b[CFG::n_out]) {
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = CFG::w_banks
#pragma HLS ALLOCATION operation instances = mul limit = CFG::mult_limit
Pixels:
    for (int p = 0; p < CFG::out_h * CFG::out_w; p++) {
#pragma HLS PIPELINE II = CFG::reuse
        typename CFG::in_t patch[CFG::n_in];
#pragma HLS ARRAY_PARTITION variable = patch complete
        typename CFG::dot_t dot[CFG::n_out];
#pragma HLS ARRAY_PARTITION variable = dot complete
        ff_hls_conv_patch<CFG>(x, p / CFG::out_w, p % CFG::out_w, patch);
        ff_hls_dense_dot<CFG>(patch, w, dot);
    Scale:
        for (int o = 0; o < CFG::n_out; o++) {
#pragma HLS UNROLL
            typename CFG::acc_t acc = dot[o];
            y[p * CFG::n_out + o] = (acc << CFG::shift) + b[o];
        }
    }
}

/* Depthwise convolution (TFLite's DEPTHWISE_CONV_2D, 1HWC weights): output channel
 * oc = c * M + m filters input channel c alone (M the depth multiplier):
 *   acc[oc] = b[oc] + sum_{ky,kx} (x[iy, ix, c] - zp_x) * w[ky][kx][oc]     (padding adds 0)
 *   y[oc]   = clamp(mbqm(acc[oc], M[oc], S[oc]) + zp_y, lo, hi)
 * CFG as for conv2d with n_out = in_c * mult, n_in = k_h * k_w (taps per output). */
template <class CFG>
void ff_hls_dwconv2d(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::in_c],
                     typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::n_out],
                     const typename CFG::w_t w[CFG::n_in * CFG::n_out],
                     const typename CFG::bias_t b[CFG::n_out], const ff_int<32> mult[CFG::n_out],
                     const ff_int<6> shift[CFG::n_out]) {
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = CFG::w_banks
#pragma HLS ALLOCATION operation instances = mul limit = CFG::mult_limit
Pixels:
    for (int p = 0; p < CFG::out_h * CFG::out_w; p++) {
#pragma HLS PIPELINE II = CFG::reuse
        int oy = p / CFG::out_w, ox = p % CFG::out_w;
    Out:
        for (int oc = 0; oc < CFG::n_out; oc++) {
            int c = oc / CFG::mult;
            typename CFG::dot_t dot = 0;
        Taps:
            for (int t = 0; t < CFG::n_in; t++) {
                int iy = oy * CFG::stride_h - CFG::pad_t + (t / CFG::k_w) * CFG::dil_h;
                int ix = ox * CFG::stride_w - CFG::pad_l + (t % CFG::k_w) * CFG::dil_w;
                if (iy >= 0 && iy < CFG::in_h && ix >= 0 && ix < CFG::in_w) {
                    typename CFG::xd_t xd = x[(iy * CFG::in_w + ix) * CFG::in_c + c] -
                                            typename CFG::xd_t(CFG::in_zp);
                    dot += xd * w[t * CFG::n_out + oc];
                }
            }
            typename CFG::acc_t acc = dot + b[oc];
            y[p * CFG::n_out + oc] = ff_hls_requant_out<CFG>(acc, mult[oc], ff_hls_ll(shift[oc]));
        }
    }
}

/* Binary convolution (ops/binary.py, XNOR-popcount; bit 1 = +1, bit 0 = -1, OHWI weights as
 * one K-bit word per output, K = k_h * k_w * in_c): per output pixel and channel
 *   dot[o] = sum over taps inside the input of (x == w ? +1 : -1)
 *          + sum over taps in the padding of pad_value * w        (pad_value -1, 0 or +1)
 *   b1: y = dot >= t[o]      s8: y = clamp(mbqm(t[o] + dot, M[o], S[o]) + zp_y, lo, hi)
 * CFG: the conv2d geometry, n_in = K, n_out, reuse, pad_value, binary_out, row_t, dot_t,
 * acc_t, bias_t, out_t (and out_zp, out_lo, out_hi for s8). */
template <class CFG>
void ff_hls_binary_conv2d(const ff_uint<1> x[CFG::in_h * CFG::in_w * CFG::in_c],
                          typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::n_out],
                          const typename CFG::row_t w[CFG::n_out],
                          const typename CFG::bias_t t[CFG::n_out],
                          const ff_int<32> mult[CFG::n_out], const ff_int<6> shift[CFG::n_out]) {
#pragma HLS ARRAY_PARTITION variable = w cyclic factor = CFG::w_banks
Pixels:
    for (int p = 0; p < CFG::out_h * CFG::out_w; p++) {
#pragma HLS PIPELINE II = CFG::reuse
        int oy = p / CFG::out_w, ox = p % CFG::out_w;
    Out:
        for (int o = 0; o < CFG::n_out; o++) {
            typename CFG::dot_t dot = 0;
        Ky:
            for (int ky = 0; ky < CFG::k_h; ky++) {
            Kx:
                for (int kx = 0; kx < CFG::k_w; kx++) {
                    int iy = oy * CFG::stride_h - CFG::pad_t + ky * CFG::dil_h;
                    int ix = ox * CFG::stride_w - CFG::pad_l + kx * CFG::dil_w;
                    bool inside = iy >= 0 && iy < CFG::in_h && ix >= 0 && ix < CFG::in_w;
                C:
                    for (int c = 0; c < CFG::in_c; c++) {
                        bool wb = w[o][(ky * CFG::k_w + kx) * CFG::in_c + c];
                        if (inside) {
                            bool xb = x[(iy * CFG::in_w + ix) * CFG::in_c + c] == 1;
                            dot += typename CFG::dot_t(xb == wb ? 1 : -1);
                        } else {
                            dot += typename CFG::dot_t(wb ? CFG::pad_value : -CFG::pad_value);
                        }
                    }
                }
            }
            if (CFG::binary_out) {
                y[p * CFG::n_out + o] = dot >= t[o] ? 1 : 0;
            } else {
                typename CFG::acc_t acc = dot + t[o];
                y[p * CFG::n_out + o] = ff_hls_requant_out<CFG>(acc, mult[o], ff_hls_ll(shift[o]));
            }
        }
    }
}

#endif
