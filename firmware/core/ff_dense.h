/* Dense (fully connected) kernels.
 *
 * ff_dense_s8: int8 activations, int8 per-channel symmetric weights, int32 bias (TFLM's scheme):
 *   acc[r][o] = bias[o] + sum_k (x[r][k] + in_offset) * w[o][k]
 *   y[r][o]   = clamp(ff_mbqm(acc, mult[o], shift[o]) + out_offset, act_min, act_max)
 * x is rows x in_features, y rows x out_features. It reads the constants the converter prepares
 * (ff_pairs.h, "pair-packed int8 matrix products"): requantization records rec[o] = {bias'[o]
 * (the input offset folded in), 2 mult[o], k, left} and int16 weights packing output
 * channel pairs (2j, 2j + 1), so that acc[r][o] = bias'[o] + sum_k x[r][k] * w[o][k] (modulo
 * 2^32). w holds the pairs by blocks of FF_DENSE_PAIRS: in a block, for every group g of four
 * inputs, each pair's H[4g], H[4g + 2], H[4g + 1], H[4g + 3] (the pairs one after the other),
 * then for each of the in % 4 last inputs k the pairs' H[k]; the pairs left after the last full
 * block follow one by one, each as ff_conv2d_s8_1x1 lays a pair out ((in + 1) & ~1 values). The
 * Cortex-M DSP path accumulates a block (8 channels of one row) with SMLAD, the input bytes of a
 * group turned into two halfword pairs by SXTB16 once for the block; the portable path computes
 * the same integers with 32-bit multiply-adds.
 * ff_dense_s8_fast: the same, for layers the converter found to meet every condition of the
 * Cortex-M assembly: in_features a multiple of 4, [act_min, act_max] = [-128, 127] and every
 * record with k > 0 and left = 0 (right shifts of at least 2). On DSP cores it takes the
 * assembly for the blocks and the DSP pair code for the pairs after them, without the portable
 * block code; elsewhere it is ff_dense_s8.
 * ff_dense_s8_compact: the same result from the same records and plain int8 weights w[o][k]
 * (out_features x in_features, a channel of multiplier 0 zeroed), one dot product per output:
 * for layers too small for their speed to matter (targets/c/emit_dense.py, COMPACT_MACS), in a
 * tenth of ff_dense_s8's code.
 *
 * ff_dense_s8_s4: the same arithmetic as ff_dense_s8's definition (not its prepared layout) with
 * int4 weights (values in [-8, 7]; firmforge's PTQ uses
 * [-7, 7]) packed two per byte: w[o][k] is element e = o * in_features + k of the packed tensor,
 * the low nibble of byte e / 2 for even e, the high nibble for odd e (ff_s4_at in ff_packed.h;
 * rows of odd length share a byte, as in TFLite's INT4 buffers).
 * ff_dense_s8_s2: the same with int2 weights (values in [-2, 1]; firmforge's PTQ uses [-1, 1])
 * packed four per byte: element e in bits 2 * (e % 4) of byte e / 4 (ff_s2_at in ff_packed.h).
 *
 * 16x8 (int16 activations, int8 symmetric weights; TFLM's int16 FULLY_CONNECTED, which applies
 * the activation zero points through in_offset / out_offset as above):
 *   acc[r][o] = bias[o] + sum_k (x[r][k] + in_offset) * w[o][k]        exact
 *   ff_dense_s16_s8 (int64 bias):
 *     y[r][o] = clamp(ff_mbqm64(acc, mult[o], shift[o]) (+) out_offset, act_min, act_max)
 *   ff_dense_s16_s8_s32 (int32 bias, where TFLM accumulates in int32):
 *     y[r][o] = clamp(ff_mbqm(acc mod 2^32, mult[o], shift[o]) (+) out_offset, act_min, act_max)
 *   (+) being int32 addition with wrap-around, as in TFLM.
 * Each product is at most 2^16 * 2^7 = 2^23 in magnitude; they are summed in int32 over runs of
 * FF_DOT_RUN = 255 (below 2^31) and in int64 across runs (ff_dot_s16_s8 in ff_fixed.h).
 *
 * ff_batch_matmul_s8: TFLM's int8 BATCH_MATMUL, for every batch index (b0, b1, b2) of the output
 * (operands broadcast along batch dimensions through a stride of 0) and every i < rows,
 * j < cols:
 *   acc = sum_k (A[i][k] + a_offset) * (B[k][j] + b_offset)             int32
 *   y   = clamp(ff_mbqm(acc, mult, shift) + out_offset, -128, 127)
 * where A[i][k] = a[a_batch + i * a_row_stride + k * a_depth_stride] and
 *       B[k][j] = b[b_batch + k * b_depth_stride + j * b_col_stride]
 * (the strides express adj_x / adj_y: a transposed operand is read in place). y is contiguous,
 * batch dims x rows x cols. depth <= 33025 keeps acc inside int32 (|products| <= 255^2).
 * ff_batch_matmul_s8_c takes one operand from constant memory: c is A when const_first is 1,
 * B otherwise, and x is the other one.
 */
#ifndef FF_DENSE_H
#define FF_DENSE_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t rows;         /* product of the leading (batch) dimensions */
    int32_t in_features;
    int32_t out_features;
    int32_t out_offset;   /* y zero point */
    int32_t act_min;
    int32_t act_max;
} ff_dense_s8_params;

/* Pairs of output channels per block of ff_dense_s8's prepared weights. */
#define FF_DENSE_PAIRS 4

typedef struct {
    int32_t rows;         /* product of the leading (batch) dimensions */
    int32_t in_features;
    int32_t out_features;
    int32_t in_offset;    /* -x zero point */
    int32_t out_offset;   /* y zero point */
    int32_t act_min;
    int32_t act_max;
    FF_CONST int32_t *mult;   /* per output feature */
    FF_CONST int32_t *shift;  /* per output feature (<= 7 for ff_dense_s16_s8) */
} ff_dense_s8_s4_params;

/* The int2 and 16x8 kernels take the int4 kernel's parameters. */
typedef ff_dense_s8_s4_params ff_dense_s8_s2_params;
typedef ff_dense_s8_s4_params ff_dense_s16_s8_params;

void ff_dense_s8(FF_CONST ff_dense_s8_params *p, const int8_t *x, FF_CONST int16_t *w,
                 FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_fast(FF_CONST ff_dense_s8_params *p, const int8_t *x, FF_CONST int16_t *w,
                      FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_compact(FF_CONST ff_dense_s8_params *p, const int8_t *x, FF_CONST int8_t *w,
                         FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_s4(FF_CONST ff_dense_s8_s4_params *p, const int8_t *x, FF_CONST uint8_t *w,
                    FF_CONST int32_t *bias, int8_t *y);
void ff_dense_s8_s2(FF_CONST ff_dense_s8_s2_params *p, const int8_t *x, FF_CONST uint8_t *w,
                    FF_CONST int32_t *bias, int8_t *y);
void ff_dense_s16_s8(FF_CONST ff_dense_s16_s8_params *p, const int16_t *x, FF_CONST int8_t *w,
                     FF_CONST int64_t *bias, int16_t *y);
void ff_dense_s16_s8_s32(FF_CONST ff_dense_s16_s8_params *p, const int16_t *x,
                         FF_CONST int8_t *w, FF_CONST int32_t *bias, int16_t *y);

typedef struct {
    int32_t batch[3];           /* output batch dims, outermost first (leading 1s) */
    int32_t a_batch_stride[3];  /* element strides of a per batch dim, 0 where it broadcasts */
    int32_t b_batch_stride[3];
    int32_t rows, cols, depth;
    int32_t a_row_stride, a_depth_stride;
    int32_t b_depth_stride, b_col_stride;
    int32_t const_first;        /* _c kernel only: 1 when the constant operand is a */
    int32_t a_offset, b_offset; /* -zero points */
    int32_t out_offset;
    int32_t mult, shift;
} ff_batch_matmul_s8_params;

void ff_batch_matmul_s8(FF_CONST ff_batch_matmul_s8_params *p, const int8_t *a, const int8_t *b,
                        int8_t *y);
void ff_batch_matmul_s8_c(FF_CONST ff_batch_matmul_s8_params *p, const int8_t *x,
                          FF_CONST int8_t *c, int8_t *y);

#endif /* FF_DENSE_H */
