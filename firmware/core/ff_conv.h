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
 *
 * ff_dwconv2d_s8: depthwise convolution with depth multiplier M. w is [1][k_h][k_w][out_c] with
 * out_c = in_c * M; output channel o = c*M + m filters input channel c only:
 *   acc[o] = bias[o] + sum over in-image taps of (x[iy][ix][c] + in_offset) * w[0][ky][kx][o]
 *   y[o]   = clamp(ff_mbqm(acc[o], mult[o], shift[o]) + out_offset, act_min, act_max)
 *
 * Accumulators are int32 as in TFLM: each product is at most 127 * 255 in magnitude, so depths up
 * to 2^16 products cannot overflow.
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
    int32_t pixels;           /* batches * height * width */
    int32_t in_c, out_c;
    int32_t in_offset, out_offset;
    int32_t act_min, act_max;
    FF_CONST int32_t *mult;
    FF_CONST int32_t *shift;
} ff_conv2d_s8_1x1_params;

void ff_conv2d_s8_1x1(FF_CONST ff_conv2d_s8_1x1_params *p, const int8_t *x, FF_CONST int8_t *w,
                      FF_CONST int32_t *bias, int8_t *y);

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

#endif /* FF_CONV_H */
