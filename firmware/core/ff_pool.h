/* Pooling kernels (NHWC, int8 and int16), TFLM's integer semantics.
 *
 * x is [batches][in_h][in_w][c], y is [batches][out_h][out_w][c]. The window of output pixel
 * (oy, ox) starts at (oy*stride_h - pad_top, ox*stride_w - pad_left), spans k_h x k_w, and is
 * clipped to the input: padding is never read, and the window always covers at least one element
 * (the IR requires padding < kernel). For each channel, over the n covered elements:
 *
 *   ff_avgpool2d_s8/_s16: s = sum x;  y = clamp(s > 0 ? (s + n/2) / n : (s - n/2) / n,
 *                                                 act_min, act_max)
 *                         with C's truncating division, i.e. the mean rounded half away from 0.
 *   ff_maxpool2d_s8/_s16: y = clamp(max x, act_min, act_max)
 *
 * Input and output share quantization, so no requantization happens.
 */
#ifndef FF_POOL_H
#define FF_POOL_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, c;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
} ff_pool2d_params;

void ff_avgpool2d_s8(FF_CONST ff_pool2d_params *p, const int8_t *x, int8_t *y);
void ff_maxpool2d_s8(FF_CONST ff_pool2d_params *p, const int8_t *x, int8_t *y);
void ff_avgpool2d_s16(FF_CONST ff_pool2d_params *p, const int16_t *x, int16_t *y);
void ff_maxpool2d_s16(FF_CONST ff_pool2d_params *p, const int16_t *x, int16_t *y);

#endif /* FF_POOL_H */
