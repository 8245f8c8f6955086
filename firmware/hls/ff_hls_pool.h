/* firmforge HLS layer templates: max and average pooling (NHWC), windows that never read
 * padding (TFLite: only the covered elements are compared or counted).
 *
 *   max:  y[c] = clamp(max over covered x[., ., c], lo, hi)   (b1 as bits: the max is an OR)
 *   avg:  s = sum of the n covered x,  y = clamp(s > 0 ? (s + n/2) / n : (s - n/2) / n, lo, hi)
 *         with C's truncating division (TFLM's AveragePool)
 * Input and output share quantization, so nothing is requantized. CFG: in_h, in_w, c,
 * out_h, out_w, k_h, k_w, stride_h, stride_w, pad_t, pad_l, reuse, out_lo, out_hi, in_min,
 * in_t, out_t, sum_t (avg: holds k_h * k_w * max|x|).
 */
#ifndef FF_HLS_POOL_H
#define FF_HLS_POOL_H

#include "ff_hls_fixed.h"

template <class CFG>
void ff_hls_maxpool2d(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::c],
                      typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::c]) {
Pixels:
    for (int p = 0; p < CFG::out_h * CFG::out_w; p++) {
#pragma HLS PIPELINE II = CFG::reuse
        int oy = p / CFG::out_w, ox = p % CFG::out_w;
    Channels:
        for (int c = 0; c < CFG::c; c++) {
            typename CFG::in_t m = typename CFG::in_t(CFG::in_min);
        Ky:
            for (int ky = 0; ky < CFG::k_h; ky++) {
            Kx:
                for (int kx = 0; kx < CFG::k_w; kx++) {
                    int iy = oy * CFG::stride_h - CFG::pad_t + ky;
                    int ix = ox * CFG::stride_w - CFG::pad_l + kx;
                    if (iy >= 0 && iy < CFG::in_h && ix >= 0 && ix < CFG::in_w) {
                        typename CFG::in_t v = x[(iy * CFG::in_w + ix) * CFG::c + c];
                        if (v > m) m = v;
                    }
                }
            }
            y[p * CFG::c + c] = ff_hls_clamp(ff_hls_ll(m), CFG::out_lo, CFG::out_hi);
        }
    }
}

template <class CFG>
void ff_hls_avgpool2d(const typename CFG::in_t x[CFG::in_h * CFG::in_w * CFG::c],
                      typename CFG::out_t y[CFG::out_h * CFG::out_w * CFG::c]) {
Pixels:
    for (int p = 0; p < CFG::out_h * CFG::out_w; p++) {
#pragma HLS PIPELINE II = CFG::reuse
        int oy = p / CFG::out_w, ox = p % CFG::out_w;
    Channels:
        for (int c = 0; c < CFG::c; c++) {
            typename CFG::sum_t s = 0;
            int n = 0;
        Ky:
            for (int ky = 0; ky < CFG::k_h; ky++) {
            Kx:
                for (int kx = 0; kx < CFG::k_w; kx++) {
                    int iy = oy * CFG::stride_h - CFG::pad_t + ky;
                    int ix = ox * CFG::stride_w - CFG::pad_l + kx;
                    if (iy >= 0 && iy < CFG::in_h && ix >= 0 && ix < CFG::in_w) {
                        s += x[(iy * CFG::in_w + ix) * CFG::c + c];
                        n++;
                    }
                }
            }
            long long sv = ff_hls_ll(s);
            long long num = sv > 0 ? sv + n / 2 : sv - n / 2;
            y[p * CFG::c + c] = ff_hls_clamp(num / n, CFG::out_lo, CFG::out_hi);
        }
    }
}

/* Global average (TFLite MEAN over H and W, TFLM's QuantizedMeanOrSum), per channel:
 *   acc = wrap32(sum of the n = H * W values - zp_x * n)
 *   y   = clamp(mbqm(acc, M', S') + zp_y, qmin, qmax)      1/n folded into M', S' in Python
 * CFG: n (= H * W), c, reuse, in_zp, out_zp, mult, shift, out_lo, out_hi, in_t, sum_t, out_t. */
template <class CFG>
void ff_hls_global_mean(const typename CFG::in_t x[CFG::n * CFG::c],
                        typename CFG::out_t y[CFG::c]) {
Channels:
    for (int c = 0; c < CFG::c; c++) {
#pragma HLS PIPELINE II = CFG::reuse
        typename CFG::sum_t s = 0;
    Pixels:
        for (int i = 0; i < CFG::n; i++) s += x[i * CFG::c + c];
        ff_int<64> centred = ff_int<64>(s) - ff_int<64>((long long)CFG::in_zp * CFG::n);
        ff_int<32> acc = centred; /* wrap32, as TFLM's int32 sum */
        long long v = ff_hls_ll(ff_hls_mbqm(acc, ff_int<32>(CFG::mult), CFG::shift)) + CFG::out_zp;
        y[c] = ff_hls_clamp(v, CFG::out_lo, CFG::out_hi);
    }
}

#endif
