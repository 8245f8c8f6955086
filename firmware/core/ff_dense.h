/* Dense (fully connected) kernels.
 *
 * ff_dense_s8: int8 activations, int8 per-channel symmetric weights, int32 bias (TFLM's scheme):
 *   acc[r][o] = bias[o] + sum_k (x[r][k] + in_offset) * w[o][k]
 *   y[r][o]   = clamp(ff_mbqm(acc, mult[o], shift[o]) + out_offset, act_min, act_max)
 * x is rows x in_features, w is out_features x in_features (row-major), y rows x out_features.
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
    FF_CONST int32_t *shift;  /* per output feature */
} ff_dense_s8_params;

void ff_dense_s8(FF_CONST ff_dense_s8_params *p, const int8_t *x, FF_CONST int8_t *w,
                 FF_CONST int32_t *bias, int8_t *y);

#endif /* FF_DENSE_H */
