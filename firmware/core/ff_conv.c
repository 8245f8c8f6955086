/* Convolution kernels (int8); the math is in ff_conv.h, the 16x8 kernels are in ff_conv_s16.c.
 *
 * Loop structure: per output pixel the range of in-image taps is found once (so no bounds test
 * sits in a channel loop), then output channels, two at a time so that each input value is loaded
 * and offset once per pair, accumulate over contiguous input channels (a whole kernel row at once
 * where the row is contiguous in memory).
 * Data is addressed through int32_t offsets rather than advancing pointers so that no pointer is
 * ever formed outside its array (which C leaves undefined even when it is not dereferenced).
 */
#include "ff_conv.h"

/* Channels accumulated together by the depthwise kernel (int32 accumulators on the stack). */
#define FF_DW_BLOCK 16

static int8_t requant(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset, int32_t lo,
                      int32_t hi) {
    return (int8_t)ff_clamp(ff_mbqm(acc, mult, shift) + out_offset, lo, hi);
}

/* Where one output pixel's in-image taps sit: `rows` kernel rows `dy` apart in x (`w_dy` in w),
 * each made of `runs` runs `dx` apart in x (`w_dx` in w) of `len` contiguous elements. */
typedef struct {
    int32_t rows, runs, len, dy, dx, w_dy, w_dx;
} conv_taps;

/* acc + sum over the taps of (x + in_offset) * w, for the filter starting at offset wr. */
static int32_t taps_dot(const int8_t *x, FF_CONST int8_t *w, const conv_taps *t, int32_t xr,
                        int32_t wr, int32_t in_offset, int32_t acc) {
    for (int32_t r = 0; r < t->rows; r++, xr += t->dy, wr += t->w_dy) {
        int32_t xt = xr, wt = wr;
        for (int32_t k = 0; k < t->runs; k++, xt += t->dx, wt += t->w_dx) {
            const int8_t *xp = x + xt;
            FF_CONST int8_t *wp = w + wt;
            for (int32_t i = 0; i < t->len; i++) {
                acc += ((int32_t)xp[i] + in_offset) * (int32_t)wp[i];
            }
        }
    }
    return acc;
}

/* taps_dot for two filters w_next apart, sharing every loaded and offset input value. */
static void taps_dot2(const int8_t *x, FF_CONST int8_t *w, const conv_taps *t, int32_t xr,
                      int32_t wr, int32_t w_next, int32_t in_offset, int32_t acc[2]) {
    int32_t a0 = acc[0], a1 = acc[1];
    for (int32_t r = 0; r < t->rows; r++, xr += t->dy, wr += t->w_dy) {
        int32_t xt = xr, wt = wr;
        for (int32_t k = 0; k < t->runs; k++, xt += t->dx, wt += t->w_dx) {
            const int8_t *xp = x + xt;
            FF_CONST int8_t *w0 = w + wt;
            FF_CONST int8_t *w1 = w0 + w_next;
            for (int32_t i = 0; i < t->len; i++) {
                const int32_t xv = (int32_t)xp[i] + in_offset;
                a0 += xv * (int32_t)w0[i];
                a1 += xv * (int32_t)w1[i];
            }
        }
    }
    acc[0] = a0;
    acc[1] = a1;
}

void ff_conv2d_s8(FF_CONST ff_conv2d_s8_params *p, const int8_t *x, FF_CONST int8_t *w,
                  FF_CONST int32_t *bias, int8_t *y) {
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int32_t out_c = p->out_c, fc = p->filter_c, gout = p->group_out;
    const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t row = in_w * in_c;       /* x elements per image row */
    const int32_t w_size = k_h * k_w * fc; /* filter elements per output channel */
    /* With one group and no horizontal dilation, the taps of a kernel row are contiguous in both
     * x and w, so a row is one run of (columns * channels) elements. */
    const int32_t fused = dil_w == 1 && fc == in_c;
    conv_taps t;
    t.dy = dil_h * row;
    t.dx = dil_w * in_c;
    t.w_dy = k_w * fc;
    t.w_dx = fc;
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int32_t xb = b * in_h * row;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            ff_tap_range(iy0, dil_h, k_h, in_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += out_c) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1, x_first = xb;
                ff_tap_range(ix0, dil_w, k_w, in_w, &kx0, &kx1);
                /* An empty column range leaves no taps at all (the window is all padding). */
                t.rows = kx0 == kx1 ? 0 : ky1 - ky0;
                t.runs = fused ? 1 : kx1 - kx0;
                t.len = fused ? (kx1 - kx0) * fc : fc;
                if (t.rows > 0) {
                    x_first = xb + (iy0 + ky0 * dil_h) * row + (ix0 + kx0 * dil_w) * in_c;
                }
                const int32_t w_first = ky0 * t.w_dy + kx0 * fc;
                int32_t o = 0;
                for (int32_t gi = 0; o < out_c; gi += fc) {
                    const int32_t group_end = o + gout;
                    for (; o + 1 < group_end; o += 2) {
                        int32_t acc[2];
                        acc[0] = bias[o];
                        acc[1] = bias[o + 1];
                        taps_dot2(x, w, &t, x_first + gi, o * w_size + w_first, w_size,
                                  in_offset, acc);
                        y[yo + o] = requant(acc[0], p->mult[o], p->shift[o], out_offset, lo, hi);
                        y[yo + o + 1] = requant(acc[1], p->mult[o + 1], p->shift[o + 1],
                                                out_offset, lo, hi);
                    }
                    if (o < group_end) {
                        const int32_t acc = taps_dot(x, w, &t, x_first + gi,
                                                     o * w_size + w_first, in_offset, bias[o]);
                        y[yo + o] = requant(acc, p->mult[o], p->shift[o], out_offset, lo, hi);
                        o++;
                    }
                }
            }
        }
    }
}

void ff_conv2d_s8_1x1(FF_CONST ff_conv2d_s8_1x1_params *p, const int8_t *x, FF_CONST int8_t *w,
                      FF_CONST int32_t *bias, int8_t *y) {
    const int32_t in_c = p->in_c, out_c = p->out_c;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t px = 0; px < p->pixels; px++) {
        const int8_t *xp = x + px * in_c;
        int8_t *yp = y + px * out_c;
        int32_t o = 0;
        /* Two output channels per pass share each loaded and offset input value. */
        for (; o + 1 < out_c; o += 2) {
            FF_CONST int8_t *w0 = w + o * in_c;
            FF_CONST int8_t *w1 = w0 + in_c;
            int32_t acc0 = bias[o], acc1 = bias[o + 1];
            for (int32_t i = 0; i < in_c; i++) {
                const int32_t xv = (int32_t)xp[i] + in_offset;
                acc0 += xv * (int32_t)w0[i];
                acc1 += xv * (int32_t)w1[i];
            }
            yp[o] = requant(acc0, p->mult[o], p->shift[o], out_offset, lo, hi);
            yp[o + 1] = requant(acc1, p->mult[o + 1], p->shift[o + 1], out_offset, lo, hi);
        }
        if (o < out_c) {
            FF_CONST int8_t *w0 = w + o * in_c;
            int32_t acc = bias[o];
            for (int32_t i = 0; i < in_c; i++) {
                acc += ((int32_t)xp[i] + in_offset) * (int32_t)w0[i];
            }
            yp[o] = requant(acc, p->mult[o], p->shift[o], out_offset, lo, hi);
        }
    }
}

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
                        y[yo + o] = requant(acc[j], p->mult[o], p->shift[o], out_offset, lo, hi);
                    }
                    for (m_base += n; m_base >= mult_d; m_base -= mult_d) {
                        c_base++;
                    }
                }
            }
        }
    }
}
