/* Binary dense and convolution layers with MST channel reuse (converter/mst_tree.py): an output
 * channel's mismatch is computed from another channel's, reading only the weight words where
 * the two channels differ. The results equal ff_bnn.h's row kernels bit for bit.
 *
 * Math. For a channel's packed weight row w (ff_bnn.h's layout; a conv channel's row is its
 * k_h * k_w taps of ceil(in_c / 32) words each, tap-major) and an input row v of the same
 * words (a dense input vector, a conv output pixel's gathered patch), the mismatch is
 * m = popcount(v xor w). With D = w_j xor w_i for channels j and i:
 *     m_j = m_i - |D| + 2 popcount((v xor w_j) & D)
 * (under D, v xor w_i is the complement of v xor w_j), summed over the words where D != 0.
 * Then dot_j = K - 2 m_j as in ff_bnn.h, K the taps that count.
 *
 * Weights (converter/encoding.py MSTRows), in the tree's evaluation order (parents first):
 *   steps: per step {channel, parent (-1: computed fully), diff words n, |D|}
 *   full:  the whole rows of the channels computed fully, one after another
 *   diffs: per diff word {word index in the row, D, w_j & D}
 * The steps are evaluated in order, each channel's mismatch kept in `scratch` (caller-owned,
 * 4 * out channels bytes, so a child reads its parent's wherever it sits in the output), then
 * the outputs written in channel order.
 *
 * Convolution: per output pixel the taps' input words are gathered into the scratch after the
 * mismatches (k_h * k_w * ceil(in_c / 32) words; a tap in the padding holds the pad_value's
 * words: all +1 or all -1). With pad_value 0 a padded tap adds nothing: a pixel with such taps
 * takes a second word array `keep` (all ones for a real tap, 0 for a padded one; scratch after
 * the patch) and masks every word with it, |D| counted under the mask too.
 *   scratch bytes = 4 * out_c + 4 * k_h * k_w * ceil(in_c / 32) * (pad_value == 0 ? 2 : 1) */
#ifndef FF_BNN_MST_H
#define FF_BNN_MST_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t rows;         /* input vectors */
    int32_t in_features;  /* K */
    int32_t out_features; /* O */
    int32_t out_offset;   /* s8 output: y zero point */
    int32_t act_min;
    int32_t act_max;
} ff_dense_b1_mst_params;

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
} ff_conv2d_b1_mst_params;

void ff_dense_b1_mst(FF_CONST ff_dense_b1_mst_params *p, const uint32_t *x,
                     FF_CONST int32_t *steps, FF_CONST uint32_t *full, FF_CONST uint32_t *diffs,
                     FF_CONST int32_t *thr, uint32_t *y, void *scratch);
void ff_dense_b1_mst_s8(FF_CONST ff_dense_b1_mst_params *p, const uint32_t *x,
                        FF_CONST int32_t *steps, FF_CONST uint32_t *full,
                        FF_CONST uint32_t *diffs, FF_CONST int32_t *rec, int8_t *y,
                        void *scratch);
void ff_conv2d_b1_mst(FF_CONST ff_conv2d_b1_mst_params *p, const uint32_t *x,
                      FF_CONST int32_t *steps, FF_CONST uint32_t *full, FF_CONST uint32_t *diffs,
                      FF_CONST int32_t *thr, uint32_t *y, void *scratch);
void ff_conv2d_b1_mst_s8(FF_CONST ff_conv2d_b1_mst_params *p, const uint32_t *x,
                         FF_CONST int32_t *steps, FF_CONST uint32_t *full,
                         FF_CONST uint32_t *diffs, FF_CONST int32_t *rec, int8_t *y,
                         void *scratch);

#endif /* FF_BNN_MST_H */
