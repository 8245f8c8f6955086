/* Binary layers with MST channel reuse; the layout and the math are in ff_bnn_mst.h. */
#include "ff_bnn_mst.h"

#include "ff_bnn_bits.h"
#include "ff_pairs.h"

/* mm[o] = popcount(v xor w_o) over the w words of row v for every channel o, walking the
 * steps: a full channel reads its row, a reused one its diff words and its parent's result. */
static void ff_mst_mismatches(const uint32_t *v, int32_t w, int32_t o_n, FF_CONST int32_t *steps,
                              FF_CONST uint32_t *full, FF_CONST uint32_t *diffs, int32_t *mm) {
    for (int32_t s = 0; s < o_n; s++, steps += 4) {
        int32_t m = 0;
        if (steps[1] < 0) {
            for (int32_t i = 0; i < w; i++) {
                m += ff_popcount32(v[i] ^ full[i]);
            }
            full += w;
        } else {
            const int32_t n = steps[2];
            for (int32_t e = 0; e < n; e++, diffs += 3) {
                m += ff_popcount32((v[diffs[0]] ^ diffs[2]) & diffs[1]);
            }
            m = mm[steps[1]] - steps[3] + 2 * m;
        }
        mm[steps[0]] = m;
    }
}

/* As ff_mst_mismatches, counting only the bits `keep` sets (a conv pixel with padded taps of
 * pad_value 0): m_j = m_i + sum over diff words of 2 popcount((v xor w_j) & D') - |D'|,
 * D' = D & keep. */
static void ff_mst_mismatches_kept(const uint32_t *v, const uint32_t *keep, int32_t w,
                                   int32_t o_n, FF_CONST int32_t *steps, FF_CONST uint32_t *full,
                                   FF_CONST uint32_t *diffs, int32_t *mm) {
    for (int32_t s = 0; s < o_n; s++, steps += 4) {
        int32_t m = 0;
        if (steps[1] < 0) {
            for (int32_t i = 0; i < w; i++) {
                m += ff_popcount32((v[i] ^ full[i]) & keep[i]);
            }
            full += w;
        } else {
            const int32_t n = steps[2];
            m = mm[steps[1]];
            for (int32_t e = 0; e < n; e++, diffs += 3) {
                const uint32_t d = diffs[1] & keep[diffs[0]];
                m += 2 * ff_popcount32((v[diffs[0]] ^ diffs[2]) & d) - ff_popcount32(d);
            }
        }
        mm[steps[0]] = m;
    }
}

/* y's b1 row from dot[o] = k - 2 mm[o] >= thr[o], channel o in bit o % 32 of word o / 32. */
static void ff_mst_put_b1(const int32_t *mm, int32_t k, int32_t o_n, FF_CONST int32_t *thr,
                          uint32_t *y) {
    for (int32_t o0 = 0; o0 < o_n; o0 += FF_WORD_BITS) {
        uint32_t acc = 0;
        const int32_t end = o_n - o0 < FF_WORD_BITS ? o_n - o0 : FF_WORD_BITS;
        for (int32_t b = 0; b < end; b++) {
            if (k - 2 * mm[o0 + b] >= thr[o0 + b]) {
                acc |= (uint32_t)1 << b;
            }
        }
        y[o0 / FF_WORD_BITS] = acc;
    }
}

/* y's int8 row: ff_requant_pre(bias + dot) with the int8 layers' records (ff_bnn.h). */
static void ff_mst_put_s8(const int32_t *mm, int32_t k, int32_t o_n, FF_CONST int32_t *rec,
                          int32_t out_offset, int32_t lo, int32_t hi, int8_t *y) {
    const int narrow = lo > -128 || hi < 127;
    for (int32_t o = 0; o < o_n; o++, rec += 4) {
        y[o] = ff_requant_pre(ff_add32(rec[0], k - 2 * mm[o]), rec[1], rec[2], rec[3],
                              out_offset, lo, hi, narrow);
    }
}

void ff_dense_b1_mst(FF_CONST ff_dense_b1_mst_params *p, const uint32_t *x,
                     FF_CONST int32_t *steps, FF_CONST uint32_t *full, FF_CONST uint32_t *diffs,
                     FF_CONST int32_t *thr, uint32_t *y, void *scratch) {
    const int32_t k = p->in_features, o_n = p->out_features;
    const int32_t kw = ff_b1_words(k), ow = ff_b1_words(o_n);
    int32_t *mm = (int32_t *)scratch;
    for (int32_t r = 0; r < p->rows; r++, x += kw, y += ow) {
        ff_mst_mismatches(x, kw, o_n, steps, full, diffs, mm);
        ff_mst_put_b1(mm, k, o_n, thr, y);
    }
}

void ff_dense_b1_mst_s8(FF_CONST ff_dense_b1_mst_params *p, const uint32_t *x,
                        FF_CONST int32_t *steps, FF_CONST uint32_t *full,
                        FF_CONST uint32_t *diffs, FF_CONST int32_t *rec, int8_t *y,
                        void *scratch) {
    const int32_t k = p->in_features, o_n = p->out_features, kw = ff_b1_words(k);
    int32_t *mm = (int32_t *)scratch;
    for (int32_t r = 0; r < p->rows; r++, x += kw, y += o_n) {
        ff_mst_mismatches(x, kw, o_n, steps, full, diffs, mm);
        ff_mst_put_s8(mm, k, o_n, rec, p->out_offset, p->act_min, p->act_max, y);
    }
}

/* Output pixel (oy, ox)'s taps into `patch` (tap-major, ceil(in_c / 32) words each: the
 * weights' row layout), padded taps as pad_value's words; with pad_value 0, `keep` marks the
 * real taps' words. Returns the taps that count (all of them unless pad_value is 0). */
static int32_t ff_mst_gather(FF_CONST ff_conv2d_b1_mst_params *p, const uint32_t *xb,
                             int32_t oy, int32_t ox, uint32_t *patch, uint32_t *keep) {
    const int32_t cw = ff_b1_words(p->in_c), rem = p->in_c % FF_WORD_BITS;
    const uint32_t last = rem == 0 ? UINT32_C(0xFFFFFFFF) : (((uint32_t)1 << rem) - 1U);
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    int32_t counted = 0;
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = iy0 + ky * p->dil_h;
        for (int32_t kx = 0; kx < p->k_w; kx++, patch += cw) {
            const int32_t ix = ix0 + kx * p->dil_w;
            const int real = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
            const uint32_t *src = real ? xb + (iy * p->in_w + ix) * cw : xb;
            for (int32_t i = 0; i < cw; i++) {
                if (real) {
                    patch[i] = src[i];
                } else {
                    patch[i] = p->pad_value > 0 ? (i == cw - 1 ? last : UINT32_C(0xFFFFFFFF))
                                                : 0U;
                }
            }
            if (keep != 0) {
                for (int32_t i = 0; i < cw; i++) {
                    keep[i] = real ? UINT32_C(0xFFFFFFFF) : 0U;
                }
                keep += cw;
            }
            counted += real || p->pad_value != 0;
        }
    }
    return counted;
}

/* mm[o] for every channel at output pixel (oy, ox); returns K, the bits that count. */
static int32_t ff_mst_pixel(FF_CONST ff_conv2d_b1_mst_params *p, const uint32_t *xb, int32_t oy,
                            int32_t ox, FF_CONST int32_t *steps, FF_CONST uint32_t *full,
                            FF_CONST uint32_t *diffs, int32_t *mm) {
    const int32_t taps = p->k_h * p->k_w, w = taps * ff_b1_words(p->in_c);
    uint32_t *patch = (uint32_t *)(mm + p->out_c);
    uint32_t *keep = p->pad_value == 0 ? patch + w : 0;
    const int32_t counted = ff_mst_gather(p, xb, oy, ox, patch, keep);
    if (counted == taps) {
        ff_mst_mismatches(patch, w, p->out_c, steps, full, diffs, mm);
    } else {
        ff_mst_mismatches_kept(patch, keep, w, p->out_c, steps, full, diffs, mm);
    }
    return counted * p->in_c;
}

void ff_conv2d_b1_mst(FF_CONST ff_conv2d_b1_mst_params *p, const uint32_t *x,
                      FF_CONST int32_t *steps, FF_CONST uint32_t *full, FF_CONST uint32_t *diffs,
                      FF_CONST int32_t *thr, uint32_t *y, void *scratch) {
    const int32_t cw = ff_b1_words(p->in_c), ow = ff_b1_words(p->out_c);
    const int32_t image = p->in_h * p->in_w * cw;
    int32_t *mm = (int32_t *)scratch;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, y += ow) {
                const int32_t k = ff_mst_pixel(p, x + b * image, oy, ox, steps, full, diffs, mm);
                ff_mst_put_b1(mm, k, p->out_c, thr, y);
            }
        }
    }
}

void ff_conv2d_b1_mst_s8(FF_CONST ff_conv2d_b1_mst_params *p, const uint32_t *x,
                         FF_CONST int32_t *steps, FF_CONST uint32_t *full,
                         FF_CONST uint32_t *diffs, FF_CONST int32_t *rec, int8_t *y,
                         void *scratch) {
    const int32_t image = p->in_h * p->in_w * ff_b1_words(p->in_c);
    int32_t *mm = (int32_t *)scratch;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, y += p->out_c) {
                const int32_t k = ff_mst_pixel(p, x + b * image, oy, ox, steps, full, diffs, mm);
                ff_mst_put_s8(mm, k, p->out_c, rec, p->out_offset, p->act_min, p->act_max, y);
            }
        }
    }
}
