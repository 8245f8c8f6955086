/* Convolution kernels (NHWC activations, int8, TFLM's per-channel scheme).
 *
 * ff_conv2d_s8: grouped 2-D convolution. x is [batches][in_h][in_w][in_c], w is
 * [out_c][k_h][k_w][filter_c] (OHWI) with in_c = groups * filter_c, y is
 * [batches][out_h][out_w][out_c]. Output channel o belongs to group g = o / (out_c / groups) and
 * reads input channels g*filter_c .. g*filter_c + filter_c - 1:
 *   iy = oy*stride_h - pad_top + ky*dil_h,   ix = ox*stride_w - pad_left + kx*dil_w
 *   acc[o] = bias[o] + sum over taps (ky, kx) with 0 <= iy < in_h and 0 <= ix < in_w, and i of
 *            (x[iy][ix][g*filter_c + i] + in_offset) * w[o][ky][kx][i]
 *   y[o]   = clamp(ff_mbqm(acc[o], mult[o], shift[o]) + out_offset, act_min, act_max)
 * Taps outside the image contribute nothing (the zero padding of the real values); bottom/right
 * padding is implied by out_h/out_w. in_offset = -x zero point, out_offset = y zero point.
 *
 * ff_conv2d_s8_1x1: the same arithmetic for a 1x1 kernel, stride 1, no padding and one group,
 * where the convolution is a matrix product over pixels:
 *   acc[p][o] = bias[o] + sum_i (x[p][i] + in_offset) * w[o][i],  p < pixels = batches*h*w
 *   y[p][o]   = clamp(ff_mbqm(acc[p][o], mult[o], shift[o]) + out_offset, act_min, act_max)
 * computed from constants the converter prepares (ff_pairs.h, "pair-packed int8 matrix
 * products": bias' with the input offset folded in, int16 weights H packing the output channel
 * pairs (2j, 2j + 1), and requantization records rec[o] = {bias'[o], 2 mult[o], k, left}):
 *   acc[p][o] = bias'[o] + sum_i x[p][i] * w[o][i]                        (modulo 2^32)
 * w holds pair after pair, each ((in_c + 1) & ~1) halfwords: for every group g < in_c / 4 of
 * four input channels H[4g], H[4g + 2], H[4g + 1], H[4g + 3] (so that a 32-bit word pairs with
 * SXTB16 of four input bytes), then H[i] for the in_c % 4 last channels, then 0 when in_c is
 * odd. An odd out_c is paired with zero weights. Pixels go in blocks of FF_PW_PIXELS, each
 * first copied into `scratch` (8 * in_c bytes, 4-aligned; int16 values laid out as
 * SMLAD reads them, see ff_conv_1x1.c) and then read from there, so y may be x itself (in
 * place, when in_c == out_c). The Cortex-M DSP path (SXTB16, SMLAD, SMMULR) and the portable
 * path compute the same integers.
 * ff_conv2d_s8_1x1_fast: the same, for layers the converter found to meet every condition of
 * the Cortex-M assembly: pixels >= FF_PW_PIXELS, in_c a multiple of 4 up to FF_PAIR_CHUNK,
 * out_c even, [act_min, act_max] = [-128, 127] and every record with k > 0 and left = 0 (right
 * shifts of at least 2). On DSP cores it is that assembly alone, so a model whose pointwise
 * layers all qualify links none of the general code; elsewhere it is ff_conv2d_s8_1x1.
 *
 * ff_dwconv2d_s8: depthwise convolution with depth multiplier M. w is [1][k_h][k_w][out_c] with
 * out_c = in_c * M; output channel o = c*M + m filters input channel c only:
 *   acc[o] = bias[o] + sum over in-image taps of (x[iy][ix][c] + in_offset) * w[0][ky][kx][o]
 *   y[o]   = clamp(ff_mbqm(acc[o], mult[o], shift[o]) + out_offset, act_min, act_max)
 *
 * ff_conv2d_s8_im2col (ff_conv_im2col.c): ff_conv2d_s8's result for one group and no
 * dilation, from prepared operands (targets/c/conv_prep.py), for layers whose filters are short
 * (the first layers of image and audio models). A kernel row is a run of L = k_w * in_c input
 * values, t = kx * in_c + i, taken as lw = ceil(L / 2) int16 pairs; the taps of a window are
 * numbered row after row, each row starting on an even position:
 *   position(ky, t) = 2 * lw * ky + t
 * (an odd L leaves position 2 * lw * ky + L, whose weight is 0). depth = 2 * lw * k_h rounded up
 * to a multiple of 4; the positions from 2 * lw * k_h on hold 0. Two output pixels q = 0, 1 are
 * gathered at a time, as int16 pairs interleaved:
 *   cols[4 * (P / 2) + 2q + P % 2] = x[iy][ix][i] + in_offset   (tap at position P), 0 for a
 *                                    tap in the padding
 * and the weights, for output channels taken four at a time (o = 4g + h, out_c rounded up to a
 * multiple of 4, missing channels zero), likewise:
 *   w[g][8 * (P / 2) + 2h + P % 2] = k[o] * w[o][ky][kx][i]        (w[g] = w + g * 4 * depth)
 * with k[o] = 2^(l[o]+1) the ff_rq scale (ff_fixed.h). Then
 *   acc2[q][o] = rq[o].bias + sum_P col_q[P] * wp_o[P],   rq[o].bias = k[o] * bias[o]
 *   y[q][o]    = ff_rq_s8(acc2[q][o], &rq[o], act_min, act_max)
 * acc2 is k[o] times ff_conv2d_s8's accumulator (the same products, in another order); the
 * converter bounds it as for ff_dwconv2d_s8_3x3 and takes the general kernel otherwise.
 * Scratch: the two interleaved columns, 4 * depth bytes (int16), then a window of k_h input
 * rows widened to int16 with the offset added (padding 0), k_h * row values, row = ring_w *
 * in_c rounded up to even, ring_w = (out_w - 1) * stride_w + k_w, and 4 bytes of slack (an odd
 * L reads one value past its row): 4 * depth + 2 * k_h * row + 4 bytes.
 *
 * ff_dwconv2d_s8_3x3 (ff_conv_dw3x3.c): ff_dwconv2d_s8's result for a 3x3 kernel, depth
 * multiplier 1, no dilation, any stride and padding, from
 * operands the converter prepares (targets/c/conv_prep.py). With cp = c rounded up to a
 * multiple of 4 (missing channels have zero weights), l[o] = max(shift[o], 0) and
 * k[o] = 2^(l[o]+1) (the ff_rq scale, ff_fixed.h):
 *   rq[o].bias = k[o] * (bias[o] + in_offset * sum_{ky,kx} w[0][ky][kx][o])
 *   acc2[o]    = rq[o].bias + sum over all nine taps of xp[iy][ix][o] * k[o] * w[0][ky][kx][o]
 *   y[o]       = ff_rq_s8(acc2[o], &rq[o], act_min, act_max)
 * where xp is x padded with the input zero point (pad_value = -in_offset). A padded tap adds
 * pad_value * w = -in_offset * w, which cancels its share of the bias, so acc2[o] is exactly
 * k[o] times ff_dwconv2d_s8's accumulator; the converter bounds every accumulator (|bias| +
 * max|x + in_offset| * sum|w| per channel) so that nothing wraps and ff_rq is exact, and takes
 * the general kernel otherwise (or when l > 7: k * w must fit int16).
 * The weights k * w are int16, in blocks of four channels c0..c3 = 4b..4b+3, 36 per block
 * (wb = w + 36b), in the order the DSP loop reads them:
 *   wb[8kx + 2j], wb[8kx + 2j + 1] = w[0][0][kx][cj], w[0][1][kx][cj]    kx < 3, j < 4
 *   wb[24 + 2j], wb[25 + 2j]       = w[0][2][0][cj], w[0][2][1][cj]
 *   wb[32], wb[33], wb[34], wb[35] = w[0][2][2][c0], ...[c2], ...[c1], ...[c3]
 * Scratch: a ring of three padded input rows, 3 * ring_w * cp bytes, ring_w = (out_w - 1) *
 * stride_w + 3 pixels. Every output reads only the ring, and input row r is copied into it
 * before output row r - pad_top + 2 is computed. So with stride 1, out_h == in_h and out_w ==
 * in_w (which forces pad_top <= 2) the output may overwrite the input (y == x): output row oy
 * is written after every input row it or a later output reads from x has been copied.
 *
 * ff_dwconv2d_s8_3x3_c4: the same result, parameters, weights and records when c is a multiple
 * of 4 (every channel block whole). With the DSP extension its ring keeps 16 bytes per pixel
 * and block, rows 0 and 1 already regrouped as the pairs the taps need ([A0 A1 B0 B1],
 * [A2 A3 B2 B3] of row words A, B), then rows 1 and 2 as they are: 4 * ring_w * c bytes of
 * scratch (the portable code uses the first 3 * ring_w * c, laid out as above). The same
 * in-place rule holds.
 *
 * Accumulators are int32 as in TFLM: each product is at most 127 * 255 in magnitude, so depths up
 * to 2^16 products cannot overflow.
 *
 * ff_conv2d_s8_s4, ff_dwconv2d_s8_s4 (in ff_conv_s4.c): the same two computations, parameters
 * and layouts with int4 weights packed two per byte (converter/encoding.py's Packed(), TFLite's
 * INT4 layout): w[...] above is element e of the packed tensor, e its C-order index (OHWI for
 * ff_conv2d_s8_s4, 1HWC for ff_dwconv2d_s8_s4), stored in the low nibble of byte e / 2 for even
 * e and in the high nibble for odd e (ff_s4_at in ff_packed.h).
 * ff_conv2d_s8_s2, ff_dwconv2d_s8_s2 (also in ff_conv_s4.c): the same with int2 weights packed
 * four per byte, element e in bits 2 * (e % 4) of byte e / 4 (ff_s2_at in ff_packed.h).
 *
 * 16x8 kernels (int16 activations with zero point 0, int8 weights; TFLM's int16 ConvPerChannel
 * and DepthwiseConvPerChannel, in ff_conv_s16.c). Same geometry as above, no offsets:
 *   acc[o] = bias[o] + sum over in-image taps of x * w       (exact: int64)
 *   ff_conv2d_s16_s8, ff_dwconv2d_s16_s8 (int64 bias):
 *     y[o] = clamp(ff_mbqm64(acc[o], mult[o], shift[o]), act_min, act_max)
 *   ff_conv2d_s16_s8_s32 (int32 bias, where TFLM accumulates in int32):
 *     y[o] = clamp(ff_mbqm(acc[o] mod 2^32, mult[o], shift[o]), act_min, act_max)
 *   i.e. the accumulator wraps as TFLM's int32 one does. Products are summed in int32 over runs
 *   short enough not to overflow (each is at most 2^22 in magnitude; FF_DOT_RUN in ff_fixed.h)
 *   and the runs in int64.
 *
 * Transposed convolutions (TFLM's TRANSPOSE_CONV; in ff_conv_transpose.c). x is
 * [batches][in_h][in_w][in_c], w is [out_c][k_h][k_w][in_c], y is [batches][out_h][out_w][out_c];
 * input pixel (iy, ix) reaches output (iy*stride_h - pad_top + ky, ix*stride_w - pad_left + kx):
 *   acc[o] = bias[o] + sum over the taps reaching (oy, ox), i.e. ky = oy + pad_top - iy*stride_h
 *            in [0, k_h) with 0 <= iy < in_h (likewise kx, ix), and over c, of
 *            (x[iy][ix][c] + in_offset) * w[o][ky][kx][c]
 *   ff_transpose_conv2d_s8:    y[o] = clamp(ff_mbqm(acc[o], mult[o], shift[o]) + out_offset,
 *                                           act_min, act_max)       (int32 accumulator)
 *   ff_transpose_conv2d_s16_s8: no offsets, int64 bias and exact accumulator,
 *                              y[o] = clamp(ff_mbqm64(acc[o], mult[o], shift[o]), act_min, act_max)
 * TFLM scatters each input pixel into an output-sized scratch buffer of accumulators (4 or 8
 * bytes per output element) and requantizes afterwards. These kernels gather instead: each
 * output element sums the taps that reach it, which are the same products, so the same sums
 * (exact in int64; in int32 modulo 2^32, addition being associative), and no scratch at all.
 */
#ifndef FF_CONV_H
#define FF_CONV_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t filter_c;         /* input channels per group: in_c / groups */
    int32_t group_out;        /* output channels per group: out_c / groups */
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t in_offset;        /* -x zero point */
    int32_t out_offset;       /* y zero point */
    int32_t act_min, act_max;
    FF_CONST int32_t *mult;   /* per output channel */
    FF_CONST int32_t *shift;  /* per output channel */
} ff_conv2d_s8_params;

void ff_conv2d_s8(FF_CONST ff_conv2d_s8_params *p, const int8_t *x, FF_CONST int8_t *w,
                  FF_CONST int32_t *bias, int8_t *y);

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t in_offset;        /* -x zero point */
    int32_t ring_w;           /* pixels per ring row: (out_w - 1) * stride_w + k_w */
    int32_t depth;            /* 2 * ceil(k_w * in_c / 2) * k_h rounded up to a multiple of 4 */
    int32_t act_min, act_max;
    FF_CONST ff_rq *rq;       /* per output channel (rounded up to a multiple of 4): scaled
                               * bias, prepared requantization */
} ff_conv2d_s8_im2col_params;

/* w: (out_c rounded up to a multiple of 4) * depth prepared int16 weights; scratch: 4 * depth +
 * 2 * k_h * row + 4 bytes (row = ring_w * in_c rounded up to even), 4-byte aligned. */
void ff_conv2d_s8_im2col(FF_CONST ff_conv2d_s8_im2col_params *p, const int8_t *x,
                         FF_CONST int16_t *w, int8_t *y, int8_t *scratch);

typedef ff_conv2d_s8_params ff_conv2d_s8_s4_params;

void ff_conv2d_s8_s4(FF_CONST ff_conv2d_s8_s4_params *p, const int8_t *x, FF_CONST uint8_t *w,
                     FF_CONST int32_t *bias, int8_t *y);

typedef ff_conv2d_s8_params ff_conv2d_s8_s2_params;

void ff_conv2d_s8_s2(FF_CONST ff_conv2d_s8_s2_params *p, const int8_t *x, FF_CONST uint8_t *w,
                     FF_CONST int32_t *bias, int8_t *y);

typedef struct {
    int32_t pixels;           /* batches * height * width */
    int32_t in_c, out_c;
    int32_t out_offset;
    int32_t act_min, act_max;
} ff_conv2d_s8_1x1_params;

/* Pixels per block of ff_conv2d_s8_1x1 (its scratch holds one block: 2 * FF_PW_PIXELS * in_c). */
#define FF_PW_PIXELS 4

void ff_conv2d_s8_1x1(FF_CONST ff_conv2d_s8_1x1_params *p, const int8_t *x, FF_CONST int16_t *w,
                      FF_CONST int32_t *rec, int8_t *y, int8_t *scratch);
void ff_conv2d_s8_1x1_fast(FF_CONST ff_conv2d_s8_1x1_params *p, const int8_t *x,
                           FF_CONST int16_t *w, FF_CONST int32_t *rec, int8_t *y,
                           int8_t *scratch);

/* ff_conv2d_s8_1x1_c8, _c16, _c32 (ff_conv_1x1_small.c): ff_conv2d_s8_1x1's bytes for
 * in_c = 8, 16 or 32 and out_c even, one pixel at a time, from one record per output channel
 * of FF_PW_SMALL_WORDS(in_c) int32: {bias', in_c / 2 words of int16 weight pairs, m2, k',
 * out_offset} (layout and the conditions the converter checks: ff_conv_1x1_small.c and
 * targets/c/pairs.py small_records). No scratch for 8 and 16; 64 bytes (word-aligned) for 32,
 * the pixel widened to int16. y may be x. */
#define FF_PW_SMALL_WORDS(in_c) ((in_c) / 2 + 4)

void ff_conv2d_s8_1x1_c8(FF_CONST ff_conv2d_s8_1x1_params *p, const int8_t *x,
                         FF_CONST int32_t *rec, int8_t *y);
void ff_conv2d_s8_1x1_c16(FF_CONST ff_conv2d_s8_1x1_params *p, const int8_t *x,
                          FF_CONST int32_t *rec, int8_t *y);
void ff_conv2d_s8_1x1_c32(FF_CONST ff_conv2d_s8_1x1_params *p, const int8_t *x,
                          FF_CONST int32_t *rec, int8_t *y, int8_t *scratch);

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;  /* out_c = in_c * depth_mult */
    int32_t depth_mult;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t in_offset, out_offset;
    int32_t act_min, act_max;
    FF_CONST int32_t *mult;
    FF_CONST int32_t *shift;
} ff_dwconv2d_s8_params;

void ff_dwconv2d_s8(FF_CONST ff_dwconv2d_s8_params *p, const int8_t *x, FF_CONST int8_t *w,
                    FF_CONST int32_t *bias, int8_t *y);

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, c;        /* c = in_c = out_c */
    int32_t out_h, out_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t pad_value;            /* the input zero point */
    int32_t act_min, act_max;
    int32_t ring_w;               /* pixels per ring row: (out_w - 1) * stride_w + 3 */
    FF_CONST ff_rq *rq;           /* cp records: folded bias, prepared requantization */
} ff_dwconv2d_s8_3x3_params;

/* w: 9 * cp prepared int16 weights, ring: 3 * ring_w * cp bytes of scratch; y may be x (see
 * above). */
void ff_dwconv2d_s8_3x3(FF_CONST ff_dwconv2d_s8_3x3_params *p, const int8_t *x,
                        FF_CONST int16_t *w, int8_t *y, int8_t *ring);

/* The records of ff_dwconv2d_s8_3x3_c4, one block per four channels c0..c0+3 (lane j: channel
 * c0 + j): ff_rq's fields grouped by field, so that a pair of them is one doubleword load. */
typedef struct {
    int32_t bias[4];
    int32_t mr[4][2];             /* lane j's mult and rnd */
    int32_t rsh[4];
} ff_rq4;

/* The same result when c is a multiple of 4 (every channel block whole: a shorter loop);
 * p->rq points at c / 4 ff_rq4 blocks (the same records, regrouped). */
void ff_dwconv2d_s8_3x3_c4(FF_CONST ff_dwconv2d_s8_3x3_params *p, const int8_t *x,
                           FF_CONST int16_t *w, int8_t *y, int8_t *ring);

typedef ff_dwconv2d_s8_params ff_dwconv2d_s8_s4_params;

void ff_dwconv2d_s8_s4(FF_CONST ff_dwconv2d_s8_s4_params *p, const int8_t *x,
                       FF_CONST uint8_t *w, FF_CONST int32_t *bias, int8_t *y);

typedef ff_dwconv2d_s8_params ff_dwconv2d_s8_s2_params;

void ff_dwconv2d_s8_s2(FF_CONST ff_dwconv2d_s8_s2_params *p, const int8_t *x,
                       FF_CONST uint8_t *w, FF_CONST int32_t *bias, int8_t *y);

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t filter_c;         /* input channels per group */
    int32_t group_out;        /* output channels per group */
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
    FF_CONST int32_t *mult;   /* per output channel */
    FF_CONST int32_t *shift;  /* per output channel, <= 7 for the int64 bias kernel */
} ff_conv2d_s16_s8_params;

void ff_conv2d_s16_s8(FF_CONST ff_conv2d_s16_s8_params *p, const int16_t *x, FF_CONST int8_t *w,
                      FF_CONST int64_t *bias, int16_t *y);
void ff_conv2d_s16_s8_s32(FF_CONST ff_conv2d_s16_s8_params *p, const int16_t *x,
                          FF_CONST int8_t *w, FF_CONST int32_t *bias, int16_t *y);

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;  /* out_c = in_c * depth_mult */
    int32_t depth_mult;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
    FF_CONST int32_t *mult;
    FF_CONST int32_t *shift;
} ff_dwconv2d_s16_s8_params;

void ff_dwconv2d_s16_s8(FF_CONST ff_dwconv2d_s16_s8_params *p, const int16_t *x,
                        FF_CONST int8_t *w, FF_CONST int64_t *bias, int16_t *y);

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t in_offset;        /* -x zero point */
    int32_t out_offset;       /* y zero point */
    int32_t act_min, act_max;
    FF_CONST int32_t *mult;   /* per output channel */
    FF_CONST int32_t *shift;  /* per output channel */
} ff_transpose_conv2d_s8_params;

void ff_transpose_conv2d_s8(FF_CONST ff_transpose_conv2d_s8_params *p, const int8_t *x,
                            FF_CONST int8_t *w, FF_CONST int32_t *bias, int8_t *y);

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
    FF_CONST int32_t *mult;
    FF_CONST int32_t *shift;  /* <= 7 (ff_mbqm64) */
} ff_transpose_conv2d_s16_s8_params;

void ff_transpose_conv2d_s16_s8(FF_CONST ff_transpose_conv2d_s16_s8_params *p, const int16_t *x,
                                FF_CONST int8_t *w, FF_CONST int64_t *bias, int16_t *y);

/* Taps k in [*lo, *hi) of a window of `taps` taps, `dil` apart, starting at `origin`, that fall
 * inside [0, n). Both ends are found by stepping, which avoids a division per pixel. An empty
 * range comes back as lo == hi. (Shared by ff_conv.c and ff_conv_s16.c.) */
static inline void ff_tap_range(int32_t origin, int32_t dil, int32_t taps, int32_t n,
                                int32_t *lo, int32_t *hi) {
    int32_t a = 0, b = taps;
    while (a < b && origin + a * dil < 0) {
        a++;
    }
    while (b > a && origin + (b - 1) * dil >= n) {
        b--;
    }
    *lo = a;
    *hi = b;
}

#endif /* FF_CONV_H */
