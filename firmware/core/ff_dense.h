/* Dense (fully connected) kernels.
 *
 * ff_dense_s8: int8 activations, int8 per-channel symmetric weights, int32 bias (TFLM's scheme):
 *   acc[r][o] = bias[o] + sum_k (x[r][k] + in_offset) * w[o][k]
 *   y[r][o]   = clamp(ff_mbqm(acc, mult[o], shift[o]) + out_offset, act_min, act_max)
 * x is rows x in_features, w is out_features x in_features (row-major), y rows x out_features.
 *
 * ff_dense_s8_s4: the same arithmetic with int4 weights (values in [-8, 7]; firmforge's PTQ uses
 * [-7, 7]) packed two per byte: w[o][k] is element e = o * in_features + k of the packed tensor,
 * the low nibble of byte e / 2 for even e, the high nibble for odd e (ff_s4_at in ff_fixed.h;
 * rows of odd length share a byte, as in TFLite's INT4 buffers).
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
 */
#ifndef FF_DENSE_H
#define FF_DENSE_H

#include <stdint.h>

#include "ff_fixed.h"

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
} ff_dense_s8_params;

/* The int4-weight and 16x8 kernels take the same parameters. */
typedef ff_dense_s8_params ff_dense_s8_s4_params;
typedef ff_dense_s8_params ff_dense_s16_s8_params;

void ff_dense_s8(FF_CONST ff_dense_s8_params *p, const int8_t *x, FF_CONST int8_t *w,
                 FF_CONST int32_t *bias, int8_t *y);
void ff_dense_s8_s4(FF_CONST ff_dense_s8_s4_params *p, const int8_t *x, FF_CONST uint8_t *w,
                    FF_CONST int32_t *bias, int8_t *y);
void ff_dense_s16_s8(FF_CONST ff_dense_s16_s8_params *p, const int16_t *x, FF_CONST int8_t *w,
                     FF_CONST int64_t *bias, int16_t *y);
void ff_dense_s16_s8_s32(FF_CONST ff_dense_s16_s8_params *p, const int16_t *x,
                         FF_CONST int8_t *w, FF_CONST int32_t *bias, int16_t *y);

#endif /* FF_DENSE_H */
