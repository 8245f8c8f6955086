/* Convolution kernels with packed int4 and int2 weights (int8 activations); the math is in
 * ff_conv.h.
 *
 * The arithmetic is ff_conv2d_s8's and ff_dwconv2d_s8's on the weights' int4 or int2 values:
 * only the weight loads differ, selected by ``bits`` (4 or 2). A filter is addressed by element
 * index into the packed tensor (an odd int4 index is a high nibble), through ff_dot_s8_s4 /
 * ff_s4_at and ff_dot_s8_s2 / ff_s2_at in ff_fixed.h. Data is addressed through int32_t
 * offsets, as in ff_conv.c.
 */
#include "ff_conv.h"
#include "ff_packed.h"

static void conv2d_packed(FF_CONST ff_conv2d_s8_params *p, const int8_t *x, FF_CONST uint8_t *w,
                          FF_CONST int32_t *bias, int8_t *y, int32_t bits) {
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int32_t out_c = p->out_c, fc = p->filter_c, gout = p->group_out;
    const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
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
                    int32_t acc = bias[o];
                    if (o == group_end) {
                        gi += fc;
                        group_end += gout;
                    }
                    for (int32_t ky = ky0; ky < ky_end; ky++) {
                        int32_t xt = xb + (iy0 + ky * dil_h) * row + (ix0 + kx0 * dil_w) * in_c
                                     + gi;
                        int32_t wt = o * w_size + (ky * k_w + kx0) * fc;
                        for (int32_t r = 0; r < runs; r++, xt += dil_w * in_c, wt += fc) {
                            acc = bits == 4 ? ff_dot_s8_s4(x + xt, w, wt, len, in_offset, acc)
                                            : ff_dot_s8_s2(x + xt, w, wt, len, in_offset, acc);
                        }
                    }
                    y[yo + o] = ff_requant_s8(acc, p->mult[o], p->shift[o], out_offset, lo, hi);
                }
            }
        }
    }
}

static void dwconv2d_packed(FF_CONST ff_dwconv2d_s8_params *p, const int8_t *x,
                            FF_CONST uint8_t *w, FF_CONST int32_t *bias, int8_t *y,
                            int32_t bits) {
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int32_t out_c = p->out_c, mult_d = p->depth_mult;
    const int32_t k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
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
                    int32_t acc = bias[o];
                    for (int32_t ky = ky0; ky < ky_end; ky++) {
                        const int32_t xrow = xb + (iy0 + ky * dil_h) * in_w * in_c + c;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int32_t e = (ky * k_w + kx) * out_c + o;
                            acc += ((int32_t)x[xrow + (ix0 + kx * dil_w) * in_c] + in_offset) *
                                   (bits == 4 ? ff_s4_at(w, e) : ff_s2_at(w, e));
                        }
                    }
                    y[yo + o] = ff_requant_s8(acc, p->mult[o], p->shift[o], out_offset, lo, hi);
                    if (++m == mult_d) {
                        m = 0;
                        c++;
                    }
                }
            }
        }
    }
}

void ff_conv2d_s8_s4(FF_CONST ff_conv2d_s8_s4_params *p, const int8_t *x, FF_CONST uint8_t *w,
                     FF_CONST int32_t *bias, int8_t *y) {
    conv2d_packed(p, x, w, bias, y, 4);
}

void ff_conv2d_s8_s2(FF_CONST ff_conv2d_s8_s2_params *p, const int8_t *x, FF_CONST uint8_t *w,
                     FF_CONST int32_t *bias, int8_t *y) {
    conv2d_packed(p, x, w, bias, y, 2);
}

void ff_dwconv2d_s8_s4(FF_CONST ff_dwconv2d_s8_s4_params *p, const int8_t *x,
                       FF_CONST uint8_t *w, FF_CONST int32_t *bias, int8_t *y) {
    dwconv2d_packed(p, x, w, bias, y, 4);
}

void ff_dwconv2d_s8_s2(FF_CONST ff_dwconv2d_s8_s2_params *p, const int8_t *x,
                       FF_CONST uint8_t *w, FF_CONST int32_t *bias, int8_t *y) {
    dwconv2d_packed(p, x, w, bias, y, 2);
}
