/* 16x8 convolution kernels (int16 activations, int8 weights); the math is in ff_conv.h.
 *
 * The exact sum of products is what TFLM's int64 accumulator holds. It is formed in int32 over
 * runs of at most FF_DOT_RUN products and in int64 across runs (ff_dot_s16_s8 in ff_fixed.h,
 * which gives the bound), so on 32-bit cores most of the work is 32-bit. ff_requant_16x8 applies
 * the bias by its width: the int32-bias variant wraps the exact sum to 32 bits, which is what
 * accumulating in a wrapping int32 gives (addition modulo 2^32 is associative).
 * Data is addressed through int32_t offsets, as in ff_conv.c.
 */
#include "ff_conv.h"

static void conv_s16(FF_CONST ff_conv2d_s16_s8_params *p, const int16_t *x, FF_CONST int8_t *w,
                     FF_CONST int64_t *bias64, FF_CONST int32_t *bias32, int16_t *y) {
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int32_t out_c = p->out_c, fc = p->filter_c, gout = p->group_out;
    const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t row = in_w * in_c;       /* x elements per image row */
    const int32_t w_size = k_h * k_w * fc; /* filter elements per output channel */
    /* One group and no horizontal dilation: a kernel row's taps are contiguous in x and w. */
    const int32_t fused = dil_w == 1 && fc == in_c;
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int32_t xb = b * in_h * row;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            ff_tap_range(iy0, dil_h, k_h, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += out_c) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                ff_tap_range(ix0, dil_w, k_w, in_w, &kx0, &kx1);
                const int32_t ky_end = kx0 == kx1 ? ky0 : ky1; /* no columns: no taps */
                const int32_t runs = fused ? 1 : kx1 - kx0;
                const int32_t len = fused ? (kx1 - kx0) * fc : fc;
                /* gi: first input channel of o's group, counted along (no division). */
                int32_t gi = 0, group_end = gout;
                for (int32_t o = 0; o < out_c; o++) {
                    int64_t sum = 0;
                    if (o == group_end) {
                        gi += fc;
                        group_end += gout;
                    }
                    for (int32_t ky = ky0; ky < ky_end; ky++) {
                        int32_t xt = xb + (iy0 + ky * dil_h) * row + (ix0 + kx0 * dil_w) * in_c
                                     + gi;
                        int32_t wt = o * w_size + (ky * k_w + kx0) * fc;
                        for (int32_t r = 0; r < runs; r++, xt += dil_w * in_c, wt += fc) {
                            sum += ff_dot_s16_s8(x + xt, w + wt, len, 0);
                        }
                    }
                    y[yo + o] = (int16_t)ff_clamp(
                        ff_requant_16x8(sum, bias64, bias32, o, p->mult[o], p->shift[o]), lo, hi);
                }
            }
        }
    }
}

void ff_conv2d_s16_s8(FF_CONST ff_conv2d_s16_s8_params *p, const int16_t *x, FF_CONST int8_t *w,
                      FF_CONST int64_t *bias, int16_t *y) {
    conv_s16(p, x, w, bias, 0, y);
}

void ff_conv2d_s16_s8_s32(FF_CONST ff_conv2d_s16_s8_params *p, const int16_t *x,
                          FF_CONST int8_t *w, FF_CONST int32_t *bias, int16_t *y) {
    conv_s16(p, x, w, 0, bias, y);
}

void ff_dwconv2d_s16_s8(FF_CONST ff_dwconv2d_s16_s8_params *p, const int16_t *x,
                        FF_CONST int8_t *w, FF_CONST int64_t *bias, int16_t *y) {
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int32_t out_c = p->out_c, mult_d = p->depth_mult;
    const int32_t k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int32_t xb = b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            ff_tap_range(iy0, dil_h, p->k_h, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += out_c) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                ff_tap_range(ix0, dil_w, k_w, in_w, &kx0, &kx1);
                const int32_t ky_end = kx0 == kx1 ? ky0 : ky1;
                /* Output channel o = c * depth_mult + m reads input channel c; c and m are
                 * counted along so that o / depth_mult is never computed. */
                int32_t c = 0, m = 0;
                for (int32_t o = 0; o < out_c; o++) {
                    int64_t sum = 0;
                    int32_t part = 0, count = 0;
                    for (int32_t ky = ky0; ky < ky_end; ky++) {
                        const int32_t xrow = xb + (iy0 + ky * dil_h) * in_w * in_c + c;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            part += (int32_t)x[xrow + (ix0 + kx * dil_w) * in_c] *
                                    (int32_t)w[(ky * k_w + kx) * out_c + o];
                            if (++count == FF_DOT_RUN) {
                                sum += part;
                                part = 0;
                                count = 0;
                            }
                        }
                    }
                    sum += part;
                    y[yo + o] = (int16_t)ff_clamp(
                        ff_requant_16x8(sum, bias, 0, o, p->mult[o], p->shift[o]), lo, hi);
                    if (++m == mult_d) {
                        m = 0;
                        c++;
                    }
                }
            }
        }
    }
}
