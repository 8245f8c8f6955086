/* Reductions (int8): TFLM's MEAN (reference_ops::QuantizedMeanOrSum).
 *
 * The emitter splits the input's (up to 4) dimensions into kept ones (out_dims, with their
 * input strides out_strides) and reduced ones (red_dims, red_strides), each padded with size-1
 * dimensions. Outputs are written in the order of the kept dimensions; for each,
 *
 *   acc = (sum of the count = prod(red_dims) reduced x) - in_zp_count     (int32, wrapping)
 *   y   = clamp(ff_mbqm(acc, mult, shift) + out_offset, -128, 127)
 *
 * where in_zp_count = input zero point * count (wrapped to int32) and mult/shift are TFLM's
 * multiplier with 1/count folded in (see converter/ops/reduce.py).
 */
#ifndef FF_REDUCE_H
#define FF_REDUCE_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t out_dims[4];
    int32_t out_strides[4];
    int32_t red_dims[4];
    int32_t red_strides[4];
    int32_t in_zp_count;
    int32_t mult, shift;
    int32_t out_offset;
} ff_mean_s8_params;

void ff_mean_s8(FF_CONST ff_mean_s8_params *p, const int8_t *x, int8_t *y);

#endif /* FF_REDUCE_H */
