/* Binary (+-1) layers: the sign that enters a binary region, XNOR-popcount dense and
 * convolution layers, and the max pool of binary values (converter/ops/binary.py).
 *
 * Layout. A b1 tensor of shape (..., C) is stored row by row along its last axis, each row in
 * W = ceil(C / 32) uint32_t words: value c is bit c % 32 of word c / 32, set for +1, clear for
 * -1, and the spare high bits of a row's last word are 0. Conv2d weights are stored the same
 * way along their last axis (OHWI as O * KH * KW rows of C), so a convolution tap's weight
 * words line up with an input pixel's words. Dense weights (O, K) are stored by column blocks
 * (below); the row kernels (ff_dense_b1_rows, for K > FF_B1_MAX_K) take them as O rows of K.
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
 * Dense by blocks of 32 outputs (ff_dense_b1, ff_dense_b1_s8; ff_bnn_dense.c). Block b holds
 * outputs 32b .. 32b + 31 (the last block fewer) as K + 1 words: word k has bit j = b(w[32b +
 * j][k]) (1 for +1), word K is 0. With b() the bits, P the inputs at +1, p = |P| and
 * S[o] = sum_k b(w[o][k]) (a constant), since x = 2 b(x) - 1:
 *   dot[o] = 4 A[o] - 2 p - 2 S[o] + K,     A[o] = sum over k in P of b(w[o][k])
 * When p > K / 2 the kernel counts over the -1 inputs instead (x' = -x, dot = -dot'), so at
 * most N = floor(K / 2) inputs are listed: n = min(p, K - p), V[o] the count over the list,
 * s = +1 or -1 (the complement), and  dot[o] = s (4 V[o] - 2 n - 2 S[o] + K).
 * Per row the list of n input indices is built once in the caller's scratch (FF_B1_SCRATCH
 * bytes) and padded with index K (the zero word) to a multiple of 16. For each block, the words
 * of the listed inputs are added into 32 lane counters held bit-sliced (plane i = bit i of
 * every lane) by carry-save adder trees over 16 words at a time (Harley-Seal: ones, twos,
 * fours, eights, sixteens in registers; the thirty-twos ripple into the upper planes), about
 * one full adder (5 logic operations) per listed word: K / 2 words per 32 outputs at worst.
 *   b1 output: with e = K - 2 S - thr (direct) or K - 2 S + thr - 1 (complement, whose result
 *   is inverted), y = +1 iff 4 V - 2 n + e >= 0 iff 2 V + h >= n, h = floor(e / 2). Clamping
 *   h to [-N - 1, N] changes no result (V <= n <= N). With h = 2 a + c (c = 0 or 1) and the
 *   offset Z = floor(N / 2) + 1 (so that a' = a + Z >= 0), W = V + a' and M = floor(n / 2) + Z:
 *     y = +1 iff W > M, or W = M and (n even or c = 1),  iff  W + tie > M
 *   with tie = 1 for an even n, c for an odd one. thr holds per block the starts a' + tie,
 *   bit-sliced in `planes` words, for the direct list of even then odd length, then the
 *   complement's: the counters start there, and W + tie > M is the carry out of adding the
 *   scalar 2^planes - 1 - M, plane by plane. W + tie <= K + 2: planes = max(5, bit length of
 *   K + 2).
 *   s8 output: the counters start at 0; the lanes' V come out of the planes by 8 x 8 bit
 *   transposes; acc = rec[o][0] + (4 V - 2 n), or rec[o][1] - (4 V - 2 n) in the complement,
 *   rec[o] = {bias + K - 2 S, bias - K + 2 S, 2 mult, k, left} (five int32, modulo 2^32).
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
    int32_t planes;       /* block kernels: bit planes of the lane counters */
} ff_dense_b1_params;

/* The block kernels list input indices as uint16_t (the zero word's index K included) and
 * count up to K + 2 in at most 16 planes. */
#define FF_B1_MAX_K 65533
#define FF_B1_MAX_PLANES 16
/* Scratch bytes of the block kernels: floor(K / 2) listed inputs and up to 15 of padding. */
#define FF_B1_SCRATCH(k) ((((k) / 2 + 15) * 2 + 3) / 4 * 4)

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
                 FF_CONST uint32_t *thr, uint32_t *y, uint16_t *scratch);
void ff_dense_b1_s8(FF_CONST ff_dense_b1_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                    FF_CONST int32_t *rec, int8_t *y, uint16_t *scratch);
void ff_dense_b1_rows(FF_CONST ff_dense_b1_params *p, const uint32_t *x,
                      FF_CONST uint32_t *w, FF_CONST int32_t *thr, uint32_t *y);
void ff_dense_b1_s8_rows(FF_CONST ff_dense_b1_params *p, const uint32_t *x,
                         FF_CONST uint32_t *w, FF_CONST int32_t *rec, int8_t *y);
void ff_conv2d_b1(FF_CONST ff_conv2d_b1_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                  FF_CONST int32_t *thr, uint32_t *y);
void ff_conv2d_b1_s8(FF_CONST ff_conv2d_b1_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                     FF_CONST int32_t *rec, int8_t *y);
void ff_maxpool2d_b1(FF_CONST ff_maxpool2d_b1_params *p, const uint32_t *x, uint32_t *y);

#endif /* FF_BNN_H */
