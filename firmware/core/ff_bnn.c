/* Binary (+-1) layers; the layout and the math are in ff_bnn.h. */
#include "ff_bnn.h"

#include "ff_bnn_bits.h"
#include "ff_pairs.h"

/* popcount(x xor w) over n words. */
static inline int32_t ff_b1_mismatch(const uint32_t *x, FF_CONST uint32_t *w, int32_t n) {
    int32_t pop = 0;
    for (int32_t i = 0; i < n; i++) {
        pop += ff_popcount32(x[i] ^ w[i]);
    }
    return pop;
}

/* popcount(v xor w) over n words of a constant row v: all +1 (ones, spare bits clear) or
 * all -1 (zeros): a tap in the padding. */
static inline int32_t ff_b1_mismatch_const(int plus, uint32_t last, FF_CONST uint32_t *w,
                                           int32_t n) {
    int32_t pop = 0;
    for (int32_t i = 0; i < n; i++) {
        const uint32_t v = plus ? (i == n - 1 ? last : UINT32_C(0xFFFFFFFF)) : 0U;
        pop += ff_popcount32(v ^ w[i]);
    }
    return pop;
}

/* Output channel o's result into a b1 row being written: bits gather in `acc`, a word is
 * stored every 32 channels and at the last one (spare bits stay 0). */
static inline void ff_b1_put(uint32_t *y, int32_t o, int32_t n, int bit, uint32_t *acc) {
    if (bit) {
        *acc |= (uint32_t)1 << (o % FF_WORD_BITS);
    }
    if (o % FF_WORD_BITS == FF_WORD_BITS - 1 || o == n - 1) {
        y[o / FF_WORD_BITS] = *acc;
        *acc = 0;
    }
}

void ff_binarize_s8_b1(FF_CONST ff_binarize_params *p, const int8_t *x, FF_CONST int32_t *thr,
                       FF_CONST uint8_t *flip, uint32_t *y) {
    const int32_t c = p->channels, words = ff_b1_words(c);
    for (int32_t r = 0; r < p->rows; r++, x += c, y += words) {
        uint32_t acc = 0;
        for (int32_t i = 0; i < c; i++) {
            const int up = (int32_t)x[i] >= thr[i];
            ff_b1_put(y, i, c, up != (flip[i] != 0), &acc);
        }
    }
}

void ff_dense_b1_rows(FF_CONST ff_dense_b1_params *p, const uint32_t *x,
                      FF_CONST uint32_t *w, FF_CONST int32_t *thr, uint32_t *y) {
    const int32_t k = p->in_features, o_n = p->out_features;
    const int32_t kw = ff_b1_words(k), ow = ff_b1_words(o_n);
    for (int32_t r = 0; r < p->rows; r++, x += kw, y += ow) {
        uint32_t acc = 0;
        FF_CONST uint32_t *wo = w;
        for (int32_t o = 0; o < o_n; o++, wo += kw) {
            const int32_t dot = k - 2 * ff_b1_mismatch(x, wo, kw);
            ff_b1_put(y, o, o_n, dot >= thr[o], &acc);
        }
    }
}

void ff_dense_b1_s8_rows(FF_CONST ff_dense_b1_params *p, const uint32_t *x,
                         FF_CONST uint32_t *w, FF_CONST int32_t *rec, int8_t *y) {
    const int32_t k = p->in_features, o_n = p->out_features, kw = ff_b1_words(k);
    const int narrow = p->act_min > -128 || p->act_max < 127;
    for (int32_t r = 0; r < p->rows; r++, x += kw, y += o_n) {
        FF_CONST uint32_t *wo = w;
        FF_CONST int32_t *q = rec;
        for (int32_t o = 0; o < o_n; o++, wo += kw, q += 4) {
            const int32_t dot = k - 2 * ff_b1_mismatch(x, wo, kw);
            y[o] = ff_requant_pre(ff_add32(q[0], dot), q[1], q[2], q[3], p->out_offset,
                                  p->act_min, p->act_max, narrow);
        }
    }
}

/* dot[o] of output pixel (oy, ox) of image xb for every channel o, into dot[] ... computed one
 * channel at a time to need no buffer: the taps of channel o (rows of its weights). */
static int32_t ff_conv_b1_dot(FF_CONST ff_conv2d_b1_params *p, const uint32_t *xb, int32_t oy,
                              int32_t ox, FF_CONST uint32_t *wo) {
    const int32_t c = p->in_c, cw = ff_b1_words(c);
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const uint32_t last = ff_b1_last_mask(c);
    int32_t dot = 0;
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int row_in = iy >= 0 && iy < p->in_h;
        for (int32_t kx = 0; kx < p->k_w; kx++, wo += cw) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (row_in && ix >= 0 && ix < p->in_w) {
                dot += c - 2 * ff_b1_mismatch(xb + (iy * p->in_w + ix) * cw, wo, cw);
            } else if (p->pad_value != 0) {
                dot += c - 2 * ff_b1_mismatch_const(p->pad_value > 0, last, wo, cw);
            }
        }
    }
    return dot;
}

void ff_conv2d_b1(FF_CONST ff_conv2d_b1_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                  FF_CONST int32_t *thr, uint32_t *y) {
    const int32_t cw = ff_b1_words(p->in_c), ow = ff_b1_words(p->out_c);
    const int32_t image = p->in_h * p->in_w * cw, taps = p->k_h * p->k_w * cw;
    for (int32_t b = 0; b < p->batches; b++) {
        const uint32_t *xb = x + b * image;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, y += ow) {
                uint32_t acc = 0;
                for (int32_t o = 0; o < p->out_c; o++) {
                    const int32_t dot = ff_conv_b1_dot(p, xb, oy, ox, w + o * taps);
                    ff_b1_put(y, o, p->out_c, dot >= thr[o], &acc);
                }
            }
        }
    }
}

void ff_conv2d_b1_s8(FF_CONST ff_conv2d_b1_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                     FF_CONST int32_t *rec, int8_t *y) {
    const int32_t cw = ff_b1_words(p->in_c);
    const int32_t image = p->in_h * p->in_w * cw, taps = p->k_h * p->k_w * cw;
    const int narrow = p->act_min > -128 || p->act_max < 127;
    for (int32_t b = 0; b < p->batches; b++) {
        const uint32_t *xb = x + b * image;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, y += p->out_c) {
                FF_CONST int32_t *q = rec;
                for (int32_t o = 0; o < p->out_c; o++, q += 4) {
                    const int32_t dot = ff_conv_b1_dot(p, xb, oy, ox, w + o * taps);
                    y[o] = ff_requant_pre(ff_add32(q[0], dot), q[1], q[2], q[3], p->out_offset,
                                          p->act_min, p->act_max, narrow);
                }
            }
        }
    }
}

void ff_maxpool2d_b1(FF_CONST ff_maxpool2d_b1_params *p, const uint32_t *x, uint32_t *y) {
    const int32_t cw = ff_b1_words(p->channels);
    for (int32_t b = 0; b < p->batches; b++) {
        const uint32_t *xb = x + b * p->in_h * p->in_w * cw;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ox++, y += cw) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (int32_t i = 0; i < cw; i++) {
                    uint32_t any = 0;
                    for (int32_t ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = y0 + ky;
                        for (int32_t kx = 0; kx < p->k_w; kx++) {
                            const int32_t ix = x0 + kx;
                            if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) {
                                any |= xb[(iy * p->in_w + ix) * cw + i];
                            }
                        }
                    }
                    y[i] = any;
                }
            }
        }
    }
}
