/* Ternary layers; the layout and the math are in ff_tnn.h. */
#include "ff_tnn.h"

#include "ff_bnn_bits.h"
#include "ff_pairs.h"

#define FF_T2_BITS 32

/* Word pairs (or b1 words) of a row of n values. */
static inline int32_t ff_t2_pairs(int32_t n) {
    return (n + FF_T2_BITS - 1) / FF_T2_BITS;
}

/* x . w over `pairs` word pairs of w, x a t2 row (word pairs) or a b1 row (words):
 * popcount(m) - 2 popcount(m & (px ^ pw)), m = nx & nw, or nw for a b1 x. */
static inline int32_t ff_t2_dot(const uint32_t *x, FF_CONST uint32_t *w, int32_t pairs,
                                int32_t binary) {
    int32_t both = 0, neg = 0;
    if (binary) {
        for (int32_t i = 0; i < pairs; i++, w += 2) {
            const uint32_t m = w[0];
            both += ff_popcount32(m);
            neg += ff_popcount32(m & (x[i] ^ w[1]));
        }
    } else {
        for (int32_t i = 0; i < pairs; i++, x += 2, w += 2) {
            const uint32_t m = x[0] & w[0];
            both += ff_popcount32(m);
            neg += ff_popcount32(m & (x[1] ^ w[1]));
        }
    }
    return both - 2 * neg;
}

/* -1 / 0 / +1 of v against a threshold pair {lo, hi}: +1 is tested first. */
static inline int32_t ff_t2_level(int32_t v, FF_CONST int32_t *thr) {
    return v >= thr[1] ? 1 : (v < thr[0] ? -1 : 0);
}

/* Value `level` of channel o into a t2 row being written: the planes gather in nz and plus,
 * a word pair is stored every 32 channels and at the last one (spare bits stay 0). */
static inline void ff_t2_put(uint32_t *y, int32_t o, int32_t n, int32_t level, uint32_t *nz,
                             uint32_t *plus) {
    const uint32_t bit = (uint32_t)1 << (o % FF_T2_BITS);
    if (level != 0) {
        *nz |= bit;
    }
    if (level > 0) {
        *plus |= bit;
    }
    if (o % FF_T2_BITS == FF_T2_BITS - 1 || o == n - 1) {
        y[2 * (o / FF_T2_BITS)] = *nz;
        y[2 * (o / FF_T2_BITS) + 1] = *plus;
        *nz = 0;
        *plus = 0;
    }
}

void ff_ternarize_s8_t2(FF_CONST ff_ternarize_params *p, const int8_t *x, FF_CONST int32_t *thr,
                        FF_CONST uint8_t *flip, uint32_t *y) {
    const int32_t c = p->channels, row = 2 * ff_t2_pairs(c);
    for (int32_t r = 0; r < p->rows; r++, x += c, y += row) {
        uint32_t nz = 0, plus = 0;
        for (int32_t i = 0; i < c; i++) {
            const int32_t v = ff_t2_level((int32_t)x[i], thr + 2 * i);
            ff_t2_put(y, i, c, flip[i] ? -v : v, &nz, &plus);
        }
    }
}

/* Words of one input row: b1 rows have one word a 32 values, t2 rows a pair. */
static inline int32_t ff_t2_in_words(int32_t n, int32_t binary) {
    return binary ? ff_t2_pairs(n) : 2 * ff_t2_pairs(n);
}

void ff_dense_t2(FF_CONST ff_dense_t2_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                 FF_CONST int32_t *thr, uint32_t *y) {
    const int32_t k = p->in_features, o_n = p->out_features, binary = p->in_binary;
    const int32_t kp = ff_t2_pairs(k), xw = ff_t2_in_words(k, binary), yw = 2 * ff_t2_pairs(o_n);
    for (int32_t r = 0; r < p->rows; r++, x += xw, y += yw) {
        uint32_t nz = 0, plus = 0;
        FF_CONST uint32_t *wo = w;
        for (int32_t o = 0; o < o_n; o++, wo += 2 * kp) {
            const int32_t dot = ff_t2_dot(x, wo, kp, binary);
            ff_t2_put(y, o, o_n, ff_t2_level(dot, thr + 2 * o), &nz, &plus);
        }
    }
}

void ff_dense_t2_s8(FF_CONST ff_dense_t2_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                    FF_CONST int32_t *rec, int8_t *y) {
    const int32_t k = p->in_features, o_n = p->out_features, binary = p->in_binary;
    const int32_t kp = ff_t2_pairs(k), xw = ff_t2_in_words(k, binary);
    const int narrow = p->act_min > -128 || p->act_max < 127;
    for (int32_t r = 0; r < p->rows; r++, x += xw, y += o_n) {
        FF_CONST uint32_t *wo = w;
        FF_CONST int32_t *q = rec;
        for (int32_t o = 0; o < o_n; o++, wo += 2 * kp, q += 4) {
            const int32_t dot = ff_t2_dot(x, wo, kp, binary);
            y[o] = ff_requant_pre(ff_add32(q[0], dot), q[1], q[2], q[3], p->out_offset,
                                  p->act_min, p->act_max, narrow);
        }
    }
}

/* dot of output pixel (oy, ox) of image xb for the channel whose weights start at wo: the
 * taps inside the input, each a row of C values; taps in the padding hold 0 and add nothing. */
static int32_t ff_conv_t2_dot(FF_CONST ff_conv2d_t2_params *p, const uint32_t *xb, int32_t oy,
                              int32_t ox, FF_CONST uint32_t *wo) {
    const int32_t cp = ff_t2_pairs(p->in_c), binary = p->in_binary;
    const int32_t pixel = ff_t2_in_words(p->in_c, binary);
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    int32_t dot = 0;
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int row_in = iy >= 0 && iy < p->in_h;
        for (int32_t kx = 0; kx < p->k_w; kx++, wo += 2 * cp) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (row_in && ix >= 0 && ix < p->in_w) {
                dot += ff_t2_dot(xb + (iy * p->in_w + ix) * pixel, wo, cp, binary);
            }
        }
    }
    return dot;
}

void ff_conv2d_t2(FF_CONST ff_conv2d_t2_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                  FF_CONST int32_t *thr, uint32_t *y) {
    const int32_t cp = ff_t2_pairs(p->in_c), yw = 2 * ff_t2_pairs(p->out_c);
    const int32_t image = p->in_h * p->in_w * ff_t2_in_words(p->in_c, p->in_binary);
    const int32_t taps = p->k_h * p->k_w * 2 * cp;
    for (int32_t b = 0; b < p->batches; b++) {
        const uint32_t *xb = x + b * image;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, y += yw) {
                uint32_t nz = 0, plus = 0;
                for (int32_t o = 0; o < p->out_c; o++) {
                    const int32_t dot = ff_conv_t2_dot(p, xb, oy, ox, w + o * taps);
                    ff_t2_put(y, o, p->out_c, ff_t2_level(dot, thr + 2 * o), &nz, &plus);
                }
            }
        }
    }
}

void ff_conv2d_t2_s8(FF_CONST ff_conv2d_t2_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                     FF_CONST int32_t *rec, int8_t *y) {
    const int32_t cp = ff_t2_pairs(p->in_c);
    const int32_t image = p->in_h * p->in_w * ff_t2_in_words(p->in_c, p->in_binary);
    const int32_t taps = p->k_h * p->k_w * 2 * cp;
    const int narrow = p->act_min > -128 || p->act_max < 127;
    for (int32_t b = 0; b < p->batches; b++) {
        const uint32_t *xb = x + b * image;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, y += p->out_c) {
                FF_CONST int32_t *q = rec;
                for (int32_t o = 0; o < p->out_c; o++, q += 4) {
                    const int32_t dot = ff_conv_t2_dot(p, xb, oy, ox, w + o * taps);
                    y[o] = ff_requant_pre(ff_add32(q[0], dot), q[1], q[2], q[3], p->out_offset,
                                          p->act_min, p->act_max, narrow);
                }
            }
        }
    }
}
