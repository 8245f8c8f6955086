/* Transposed convolution kernels (int8 and 16x8); the math is in ff_conv.h.
 *
 * Each output element gathers the taps that reach it. Along one axis, output index o receives
 * input index i through tap k when i*stride - pad + k = o, i.e. k = t - i*stride with t = o + pad:
 * the taps are congruent to t modulo the stride, from the larger of t % stride and
 * t - (n - 1)*stride (the last input index) up to the smaller of k_size - 1 and t (input index
 * 0), and each next tap reads the previous input index. Data is addressed through int32_t
 * offsets, as in ff_conv.c.
 */
#include "ff_conv.h"

/* The taps reaching output index o along one axis: returns how many, with the first tap in *k0
 * and the input index it reads in *i0 (tap *k0 + j*stride reads *i0 - j). */
static int32_t tap_run(int32_t o, int32_t pad, int32_t stride, int32_t k_size, int32_t n,
                       int32_t *k0, int32_t *i0) {
    const int32_t t = o + pad;
    const int32_t last = t - (n - 1) * stride;
    const int32_t first = t % stride > last ? t % stride : last;
    const int32_t end = t + 1 < k_size ? t + 1 : k_size;
    *k0 = first;
    *i0 = first <= t ? (t - first) / stride : 0;
    return first < end ? (end - first + stride - 1) / stride : 0;
}

/* The taps of one output pixel: rows * cols taps, the first at kernel offset (ky0, kx0) reading
 * input pixel (iy0, ix0). */
typedef struct {
    int32_t rows, cols, ky0, kx0, iy0, ix0;
} tconv_taps;

static tconv_taps pixel_taps(int32_t oy, int32_t ox, int32_t in_h, int32_t in_w, int32_t k_h,
                             int32_t k_w, int32_t stride_h, int32_t stride_w, int32_t pad_top,
                             int32_t pad_left) {
    tconv_taps t;
    t.rows = tap_run(oy, pad_top, stride_h, k_h, in_h, &t.ky0, &t.iy0);
    t.cols = tap_run(ox, pad_left, stride_w, k_w, in_w, &t.kx0, &t.ix0);
    if (t.cols == 0) {
        t.rows = 0;
    }
    return t;
}

void ff_transpose_conv2d_s8(FF_CONST ff_transpose_conv2d_s8_params *p, const int8_t *x,
                            FF_CONST int8_t *w, FF_CONST int32_t *bias, int8_t *y) {
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
    const int32_t k_h = p->k_h, k_w = p->k_w, sh = p->stride_h, sw = p->stride_w;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t w_size = k_h * k_w * in_c; /* filter elements per output channel */
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int32_t xb = b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += out_c) {
                const tconv_taps t = pixel_taps(oy, ox, in_h, in_w, k_h, k_w, sh, sw,
                                                p->pad_top, p->pad_left);
                for (int32_t o = 0; o < out_c; o++) {
                    int32_t acc = bias[o];
                    for (int32_t j = 0; j < t.rows; j++) {
                        const int32_t xr = xb + (t.iy0 - j) * in_w * in_c;
                        const int32_t wr = o * w_size + (t.ky0 + j * sh) * k_w * in_c;
                        for (int32_t i = 0; i < t.cols; i++) {
                            const int32_t xt = xr + (t.ix0 - i) * in_c;
                            const int32_t wt = wr + (t.kx0 + i * sw) * in_c;
                            for (int32_t c = 0; c < in_c; c++) {
                                acc += ((int32_t)x[xt + c] + in_offset) * (int32_t)w[wt + c];
                            }
                        }
                    }
                    y[yo + o] = (int8_t)ff_clamp(
                        ff_mbqm(acc, p->mult[o], p->shift[o]) + out_offset, lo, hi);
                }
            }
        }
    }
}

void ff_transpose_conv2d_s16_s8(FF_CONST ff_transpose_conv2d_s16_s8_params *p, const int16_t *x,
                                FF_CONST int8_t *w, FF_CONST int64_t *bias, int16_t *y) {
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
    const int32_t k_h = p->k_h, k_w = p->k_w, sh = p->stride_h, sw = p->stride_w;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t w_size = k_h * k_w * in_c;
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int32_t xb = b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += out_c) {
                const tconv_taps t = pixel_taps(oy, ox, in_h, in_w, k_h, k_w, sh, sw,
                                                p->pad_top, p->pad_left);
                for (int32_t o = 0; o < out_c; o++) {
                    int64_t sum = 0;
                    for (int32_t j = 0; j < t.rows; j++) {
                        const int32_t xr = xb + (t.iy0 - j) * in_w * in_c;
                        const int32_t wr = o * w_size + (t.ky0 + j * sh) * k_w * in_c;
                        for (int32_t i = 0; i < t.cols; i++) {
                            sum += ff_dot_s16_s8(x + xr + (t.ix0 - i) * in_c,
                                                 w + wr + (t.kx0 + i * sw) * in_c, in_c, 0);
                        }
                    }
                    y[yo + o] = (int16_t)ff_clamp(
                        ff_requant_16x8(sum, bias, 0, o, p->mult[o], p->shift[o]), lo, hi);
                }
            }
        }
    }
}
