/* Ternary (-1 / 0 / +1) layers: the ternarizer that enters a ternary region, and dense and
 * convolution layers with ternary weights on ternary or binary inputs
 * (converter/ops/ternary.py).
 *
 * Layout. A t2 tensor of shape (..., C) is stored row by row along its last axis, each row in
 * W = ceil(C / 32) pairs of uint32_t words; pair i holds values 32i .. 32i + 31 in two bit
 * planes, bit c % 32 of each:
 *   word 2i      nonzero plane, set where the value is not 0
 *   word 2i + 1  plus plane, set where the value is +1
 * and the spare high bits of a row's last pair are 0. Ternary weights are stored the same way
 * along their last axis: Dense (O, K) as O rows of K, Conv2d OHWI as O * KH * KW rows of C. A
 * b1 input (ff_bnn.h: W words a row, bit set for +1) is read as a plus plane whose nonzero
 * plane is all ones (in_binary = 1).
 *
 * Arithmetic, without a multiply. For ternary x and w over the same words, with nx, px and nw,
 * pw their planes, m = nx & nw marks the taps where both are nonzero; each adds +1, except
 * those whose plus bits differ, which add -1:
 *   x . w = popcount(m) - 2 popcount(m & (px ^ pw))
 * Spare bits are 0 in both nonzero planes, so they add nothing; padded convolution taps hold
 * 0 and are skipped. For a b1 x, m = nw.
 *   t2 output:  y[o] = +1 when dot >= thr[2o + 1], else -1 when dot < thr[2o], else 0
 *   s8 output:  y[o] = ff_requant_pre(rec[o][0] + dot[o], rec[o][1..3]) (ff_pairs.h), rec the
 *               records {bias, 2 mult, k, left} of the int8 layers, with an input offset of 0
 * Ternarize (int8 in): v = +1 when x[c] >= thr[2c + 1], else -1 when x[c] < thr[2c], else 0;
 *   y[c] = flip[c] ? -v : v.
 *
 * dot stays exact in int32 for fewer than 2^30 taps per output, which the converter checks. */
#ifndef FF_TNN_H
#define FF_TNN_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t rows;     /* the product of x's leading dimensions */
    int32_t channels; /* C, the last dimension */
} ff_ternarize_params;

typedef struct {
    int32_t rows;         /* input vectors */
    int32_t in_features;  /* K */
    int32_t out_features; /* O */
    int32_t in_binary;    /* 1: x is b1 (one word a 32 values), 0: t2 (a word pair) */
    int32_t out_offset;   /* s8 output: y zero point */
    int32_t act_min;
    int32_t act_max;
} ff_dense_t2_params;

typedef struct {
    int32_t batches, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t in_binary;  /* 1: x is b1, 0: t2 */
    int32_t out_offset; /* s8 output */
    int32_t act_min;
    int32_t act_max;
} ff_conv2d_t2_params;

void ff_ternarize_s8_t2(FF_CONST ff_ternarize_params *p, const int8_t *x, FF_CONST int32_t *thr,
                        FF_CONST uint8_t *flip, uint32_t *y);
void ff_dense_t2(FF_CONST ff_dense_t2_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                 FF_CONST int32_t *thr, uint32_t *y);
void ff_dense_t2_s8(FF_CONST ff_dense_t2_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                    FF_CONST int32_t *rec, int8_t *y);
void ff_conv2d_t2(FF_CONST ff_conv2d_t2_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                  FF_CONST int32_t *thr, uint32_t *y);
void ff_conv2d_t2_s8(FF_CONST ff_conv2d_t2_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                     FF_CONST int32_t *rec, int8_t *y);

#endif /* FF_TNN_H */
