/* Binary (+-1) layers: the sign that enters a binary region, XNOR-popcount dense and
 * convolution layers, and the max pool of binary values (converter/ops/binary.py).
 *
 * Layout. A b1 tensor of shape (..., C) is stored row by row along its last axis, each row in
 * W = ceil(C / 32) uint32_t words: value c is bit c % 32 of word c / 32, set for +1, clear for
 * -1, and the spare high bits of a row's last word are 0. Binary weights are stored the same
 * way along their last axis: Dense (O, K) as O rows of K, Conv2d OHWI as O * KH * KW rows of
 * C, so a convolution tap's weight words line up with an input pixel's words.
 *
 * Arithmetic. For +-1 vectors x and w of n elements, x . w = n - 2 popcount(x xor w) over
 * their words: equal bits multiply to +1, different ones to -1, and spare bits (0 in both)
 * add nothing. A convolution sums that over its taps; a tap in the padding holds pad_value:
 * +1 or -1 (the words of an all-+1 or all--1 pixel), or 0 (the tap adds nothing).
 *   b1 output:  y[o] = +1 when dot[o] >= thr[o], else -1
 *   s8 output:  y[o] = ff_requant_pre(rec[o][0] + dot[o], rec[o][1..3]) (ff_pairs.h), rec the
 *               records {bias, 2 mult, k, left} of the int8 layers, with an input offset of 0
 * Binarize (int8 in): y[c] = +1 when (x[c] >= thr[c]) != flip[c], else -1.
 * Max pool: the maximum of +-1 values is the OR of their bits (windows never read padding).
 *
 * dot stays exact in int32 for fewer than 2^31 taps per output, which the converter checks. */
#ifndef FF_BNN_H
#define FF_BNN_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t rows;     /* the product of x's leading dimensions */
    int32_t channels; /* C, the last dimension */
} ff_binarize_params;

typedef struct {
    int32_t rows;         /* input vectors */
    int32_t in_features;  /* K */
    int32_t out_features; /* O */
    int32_t out_offset;   /* s8 output: y zero point */
    int32_t act_min;
    int32_t act_max;
} ff_dense_b1_params;

typedef struct {
    int32_t batches, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t pad_value;  /* -1, 0 or +1 */
    int32_t out_offset; /* s8 output */
    int32_t act_min;
    int32_t act_max;
} ff_conv2d_b1_params;

typedef struct {
    int32_t batches, in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
} ff_maxpool2d_b1_params;

void ff_binarize_s8_b1(FF_CONST ff_binarize_params *p, const int8_t *x, FF_CONST int32_t *thr,
                       FF_CONST uint8_t *flip, uint32_t *y);
void ff_dense_b1(FF_CONST ff_dense_b1_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                 FF_CONST int32_t *thr, uint32_t *y);
void ff_dense_b1_s8(FF_CONST ff_dense_b1_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                    FF_CONST int32_t *rec, int8_t *y);
void ff_conv2d_b1(FF_CONST ff_conv2d_b1_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                  FF_CONST int32_t *thr, uint32_t *y);
void ff_conv2d_b1_s8(FF_CONST ff_conv2d_b1_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                     FF_CONST int32_t *rec, int8_t *y);
void ff_maxpool2d_b1(FF_CONST ff_maxpool2d_b1_params *p, const uint32_t *x, uint32_t *y);

#endif /* FF_BNN_H */
