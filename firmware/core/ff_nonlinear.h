/* Smooth activations, int8: sigmoid (TFLite LOGISTIC), tanh and softmax, integer-only and bit for
 * bit as TensorFlow Lite Micro's reference kernels compute them (gemmlowp fixed point, in
 * ff_fixed.h). All parameters are prepared by the emitter (converter/ops/nonlinear.py).
 *
 * ff_sigmoid_s8 / ff_tanh_s8, for each of the size elements:
 *   d = x - input_zero_point
 *   d <= -input_range_radius -> -128;   d >= input_range_radius -> 127;   otherwise
 *   a = ff_mbqm(d, input_multiplier, input_shift)         d * input scale in Q4.27
 *   sigmoid: y = clamp(ff_rdbpot(ff_logistic_q31(a, 4), 23) - 128, -128, 127)   (scale 1/256)
 *   tanh:    y = clamp(ff_rdbpot(ff_tanh_q31(a, 4), 24), -128, 127)             (scale 1/128)
 * with (input_multiplier, input_shift) = frexp(input_scale * 2^27) as a Q31 significand and an
 * exponent, and input_range_radius = floor(15 * 2^27 / 2^input_shift): beyond it the result
 * saturates anyway.
 *
 * ff_softmax_s8, over each of the rows (depth contiguous elements):
 *   d[c] = x[c] - max_c x[c]; only d[c] >= diff_min take part (the others give -128)
 *   e[c] = ff_exp_on_negative_values(ff_mbqm_greater_than_one(d[c], input_multiplier,
 *                                                             input_left_shift), 5)      Q0
 *   s    = sum_c ff_rdbpot(e[c], 12)                                  Q12, wrapping int32
 *   r    = ff_get_reciprocal(s, 12, &b);  E = b + 23                 1/s = r * 2^-b
 *   y[c] = clamp(ff_rdbpot(ff_srdhm(r, e[c]), E) - 128, -128, 127)   (scale 1/256)
 * ff_softmax_s8_s16, TFLM's int8-in, int16-out softmax: the same with E = b + 15 and
 *   y[c] = clamp(ff_rdbpot(ff_srdhm(r, e[c]), E) - 32768, -32768, 32767)   (scale 1/65536)
 * where d * 2^input_left_shift * input_multiplier / 2^31 is beta * input_scale * d in Q5.26, and
 * diff_min = -floor(31 * 2^26 / 2^input_left_shift). TFLM aborts when E leaves [0, 31]; here
 * E > 31 gives 0 (the exact rounded quotient) and E < 0 counts as 0.
 * The exponentials are computed twice instead of being stored, so no scratch is needed.
 *
 * Every kernel reads each x element before writing the y element at the same index, so y may
 * alias x (in-place).
 */
#ifndef FF_NONLINEAR_H
#define FF_NONLINEAR_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t size;                /* elements */
    int32_t input_zero_point;
    int32_t input_range_radius;
    int32_t input_multiplier;
    int32_t input_shift;         /* exponent of input_scale * 2^27, >= 0 */
} ff_act_s8_params;

typedef struct {
    int32_t rows;                /* product of the leading dimensions */
    int32_t depth;               /* length of the softmax axis */
    int32_t input_multiplier;
    int32_t input_left_shift;    /* 1 .. 31 */
    int32_t diff_min;
} ff_softmax_s8_params;

void ff_sigmoid_s8(FF_CONST ff_act_s8_params *p, const int8_t *x, int8_t *y);
void ff_tanh_s8(FF_CONST ff_act_s8_params *p, const int8_t *x, int8_t *y);
void ff_softmax_s8(FF_CONST ff_softmax_s8_params *p, const int8_t *x, int8_t *y);
void ff_softmax_s8_s16(FF_CONST ff_softmax_s8_params *p, const int8_t *x, int16_t *y);

#endif /* FF_NONLINEAR_H */
