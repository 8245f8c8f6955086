/* The general int8 convolution; the math is in ff_conv.h. The pointwise kernel is in
 * ff_conv_1x1.c, the depthwise one in ff_conv_dw.c, the 16x8 ones in ff_conv_s16.c.
 *
 * Loop structure: per output pixel the range of in-image taps is found once (so no bounds test
 * sits in a channel loop), then output channels, two at a time so that each input value is loaded
 * and offset once per pair, accumulate over contiguous input channels (a whole kernel row at once
 * where the row is contiguous in memory).
 * Data is addressed through int32_t offsets rather than advancing pointers so that no pointer is
 * ever formed outside its array (which C leaves undefined even when it is not dereferenced).
 */
#include "ff_conv.h"


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
                        y[yo + o] = ff_requant_s8(acc[0], p->mult[o], p->shift[o], out_offset,
                                                  lo, hi);
                        y[yo + o + 1] = ff_requant_s8(acc[1], p->mult[o + 1], p->shift[o + 1],
                                                      out_offset, lo, hi);
                    }
                    if (o < group_end) {
                        const int32_t acc = taps_dot(x, w, &t, x_first + gi,
                                                     o * w_size + w_first, in_offset, bias[o]);
                        y[yo + o] = ff_requant_s8(acc, p->mult[o], p->shift[o], out_offset, lo,
                                                  hi);
                        o++;
                    }
                }
            }
        }
    }
}
