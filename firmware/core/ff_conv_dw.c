/* The int8 depthwise convolution; the math is in ff_conv.h. Output channels are accumulated in
 * blocks of FF_DW_BLOCK so that each tap's inputs and weights are read contiguously. */
#include "ff_conv.h"

/* Channels accumulated together (int32 accumulators on the stack). */
#define FF_DW_BLOCK 16

void ff_dwconv2d_s8(FF_CONST ff_dwconv2d_s8_params *p, const int8_t *x, FF_CONST int8_t *w,
                    FF_CONST int32_t *bias, int8_t *y) {
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int32_t out_c = p->out_c, mult_d = p->depth_mult;
    const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int32_t xb = b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            ff_tap_range(iy0, dil_h, k_h, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += out_c) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                ff_tap_range(ix0, dil_w, k_w, in_w, &kx0, &kx1);
                const int32_t ky_end = kx0 == kx1 ? ky0 : ky1;
                /* Input channel c_base and multiplier index m_base of the block's first output
                 * channel, advanced by counting so that o / depth_mult is never computed. */
                int32_t c_base = 0, m_base = 0;
                for (int32_t o0 = 0; o0 < out_c; o0 += FF_DW_BLOCK) {
                    const int32_t n = out_c - o0 < FF_DW_BLOCK ? out_c - o0 : FF_DW_BLOCK;
                    int32_t acc[FF_DW_BLOCK];
                    for (int32_t j = 0; j < n; j++) {
                        acc[j] = bias[o0 + j];
                    }
                    for (int32_t ky = ky0; ky < ky_end; ky++) {
                        const int32_t xrow = xb + (iy0 + ky * dil_h) * in_w * in_c;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int8_t *xp = x + xrow + (ix0 + kx * dil_w) * in_c;
                            FF_CONST int8_t *wp = w + (ky * k_w + kx) * out_c + o0;
                            if (mult_d == 1) {
                                for (int32_t j = 0; j < n; j++) {
                                    acc[j] += ((int32_t)xp[c_base + j] + in_offset) *
                                              (int32_t)wp[j];
                                }
                            } else {
                                int32_t c = c_base, m = m_base;
                                for (int32_t j = 0; j < n; j++) {
                                    acc[j] += ((int32_t)xp[c] + in_offset) * (int32_t)wp[j];
                                    if (++m == mult_d) {
                                        m = 0;
                                        c++;
                                    }
                                }
                            }
                        }
                    }
                    for (int32_t j = 0; j < n; j++) {
                        const int32_t o = o0 + j;
                        y[yo + o] = ff_requant_s8(acc[j], p->mult[o], p->shift[o], out_offset,
                                                  lo, hi);
                    }
                    for (m_base += n; m_base >= mult_d; m_base -= mult_d) {
                        c_base++;
                    }
                }
            }
        }
    }
}
