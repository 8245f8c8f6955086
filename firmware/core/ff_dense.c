/* Dense kernels (compact int8, int4 weights, 16x8, batch matmul; ff_dense_s8 is in
 * ff_dense_s8.c); the math is in ff_dense.h. */
#include "ff_dense.h"
#include "ff_packed.h"
#include "ff_pairs.h"

/* One dot product per output, the sum wrapping modulo 2^32 as the prepared bias' does: the
 * smallest code that computes the layer, for layers too small for their speed to matter. */
void ff_dense_s8_compact(FF_CONST ff_dense_s8_params *p, const int8_t *x, FF_CONST int8_t *w,
                         FF_CONST int32_t *rec, int8_t *y) {
    const int32_t in = p->in_features, out = p->out_features;
    const int32_t out_offset = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int narrow = lo > -128 || hi < 127;
    for (int32_t r = 0; r < p->rows; r++, x += in) {
        FF_CONST int8_t *wo = w;
        FF_CONST int32_t *q = rec;
        for (int32_t o = 0; o < out; o++, q += 4) {
            int32_t acc = q[0];
            for (int32_t k = 0; k < in; k++) {
                acc = ff_add32(acc, (int32_t)x[k] * wo[k]);
            }
            wo += in;
            *y++ = ff_requant_pre(acc, q[1], q[2], q[3], out_offset, lo, hi, narrow);
        }
    }
}

/* The packed kernels: ``bits`` (4 or 2) selects the weight loads, the arithmetic is one. */
static void dense_packed(FF_CONST ff_dense_s8_s4_params *p, const int8_t *x, FF_CONST uint8_t *w,
                         FF_CONST int32_t *bias, int8_t *y, int32_t bits) {
    const int32_t rows = p->rows, in_n = p->in_features, out_n = p->out_features;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *xr = x + r * in_n;
        for (int32_t o = 0; o < out_n; o++) {
            int32_t acc = bits == 4 ? ff_dot_s8_s4(xr, w, o * in_n, in_n, in_offset, bias[o])
                                    : ff_dot_s8_s2(xr, w, o * in_n, in_n, in_offset, bias[o]);
            acc = ff_mbqm(acc, p->mult[o], p->shift[o]) + out_offset;
            y[r * out_n + o] = (int8_t)ff_clamp(acc, lo, hi);
        }
    }
}

void ff_dense_s8_s4(FF_CONST ff_dense_s8_s4_params *p, const int8_t *x, FF_CONST uint8_t *w,
                    FF_CONST int32_t *bias, int8_t *y) {
    dense_packed(p, x, w, bias, y, 4);
}

void ff_dense_s8_s2(FF_CONST ff_dense_s8_s2_params *p, const int8_t *x, FF_CONST uint8_t *w,
                    FF_CONST int32_t *bias, int8_t *y) {
    dense_packed(p, x, w, bias, y, 2);
}

/* Exactly one of bias64 / bias32 is non-null and selects the variant (ff_requant_16x8). */
static void dense_s16(FF_CONST ff_dense_s16_s8_params *p, const int16_t *x, FF_CONST int8_t *w,
                      FF_CONST int64_t *bias64, FF_CONST int32_t *bias32, int16_t *y) {
    const int32_t rows = p->rows, in_n = p->in_features, out_n = p->out_features;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t r = 0; r < rows; r++) {
        const int16_t *xr = x + r * in_n;
        for (int32_t o = 0; o < out_n; o++) {
            const int64_t sum = ff_dot_s16_s8(xr, w + o * in_n, in_n, in_offset);
            const int32_t v = ff_requant_16x8(sum, bias64, bias32, o, p->mult[o], p->shift[o]);
            /* The offset is added in wrapping int32, as TFLM's int32 addition does. */
            y[r * out_n + o] = (int16_t)ff_clamp(ff_add32(v, out_offset), lo, hi);
        }
    }
}

void ff_dense_s16_s8(FF_CONST ff_dense_s16_s8_params *p, const int16_t *x, FF_CONST int8_t *w,
                     FF_CONST int64_t *bias, int16_t *y) {
    dense_s16(p, x, w, bias, 0, y);
}

void ff_dense_s16_s8_s32(FF_CONST ff_dense_s16_s8_params *p, const int16_t *x,
                         FF_CONST int8_t *w, FF_CONST int32_t *bias, int16_t *y) {
    dense_s16(p, x, w, 0, bias, y);
}

/* One body for both batch-matmul kernels: each operand comes either from RAM (a, b) or from
 * constant memory (ca, cb); exactly one pointer of each pair is non-null. Every call passes
 * literal nulls, so FF_INLINE_BODY folds the choice out of the loops. */
static FF_INLINE_BODY void batch_matmul_s8(FF_CONST ff_batch_matmul_s8_params *p,
                                           const int8_t *a, FF_CONST int8_t *ca,
                                           const int8_t *b, FF_CONST int8_t *cb, int8_t *y) {
    const int32_t rows = p->rows, cols = p->cols, depth = p->depth;
    const int32_t ar = p->a_row_stride, ak = p->a_depth_stride;
    const int32_t bk = p->b_depth_stride, bc = p->b_col_stride;
    const int32_t a_off = p->a_offset, b_off = p->b_offset, out_off = p->out_offset;
    int32_t yo = 0;
    for (int32_t b0 = 0; b0 < p->batch[0]; b0++) {
        for (int32_t b1 = 0; b1 < p->batch[1]; b1++) {
            for (int32_t b2 = 0; b2 < p->batch[2]; b2++) {
                const int32_t abase = b0 * p->a_batch_stride[0] + b1 * p->a_batch_stride[1] +
                                      b2 * p->a_batch_stride[2];
                const int32_t bbase = b0 * p->b_batch_stride[0] + b1 * p->b_batch_stride[1] +
                                      b2 * p->b_batch_stride[2];
                for (int32_t i = 0; i < rows; i++) {
                    for (int32_t j = 0; j < cols; j++) {
                        int32_t acc = 0;
                        for (int32_t k = 0; k < depth; k++) {
                            const int32_t ia = abase + i * ar + k * ak;
                            const int32_t ib = bbase + k * bk + j * bc;
                            const int32_t va = ca != 0 ? ca[ia] : a[ia];
                            const int32_t vb = cb != 0 ? cb[ib] : b[ib];
                            acc += (va + a_off) * (vb + b_off);
                        }
                        acc = ff_mbqm(acc, p->mult, p->shift) + out_off;
                        y[yo++] = (int8_t)ff_clamp(acc, -128, 127);
                    }
                }
            }
        }
    }
}

void ff_batch_matmul_s8(FF_CONST ff_batch_matmul_s8_params *p, const int8_t *a, const int8_t *b,
                        int8_t *y) {
    batch_matmul_s8(p, a, 0, b, 0, y);
}

void ff_batch_matmul_s8_c(FF_CONST ff_batch_matmul_s8_params *p, const int8_t *x,
                          FF_CONST int8_t *c, int8_t *y) {
    if (p->const_first != 0) {
        batch_matmul_s8(p, 0, c, x, 0, y);
    } else {
        batch_matmul_s8(p, x, 0, 0, c, y);
    }
}
