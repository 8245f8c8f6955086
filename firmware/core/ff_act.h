/* Standalone piecewise-linear activations (int8; LEAKY_RELU also int16), TFLM's RELU, RELU6 and
 * LEAKY_RELU.
 *
 * n elements; x_off is the input zero point, y_off the output zero point.
 *
 * ff_relu_s8:       y = clamp(y_off + ff_mbqm(x - x_off, mult, shift), act_min, act_max)
 *                   (act_min = max(-128, y_off), act_max = 127: the requantized ReLU)
 * ff_relu6_s8:      y = clamp(x, act_min, act_max)
 *                   (input and output share parameters; the bounds are q(0) and q(6))
 * ff_leaky_relu_s8: d = x - x_off
 *                   y = clamp(y_off + (d >= 0 ? ff_mbqm(d, mult, shift)
 *                                             : alpha_sign * ff_mbqm(d, alpha_mult, alpha_shift)),
 *                             -128, 127)
 *                   (alpha_mult is the magnitude's multiplier, alpha_sign is +1 or -1; the
 *                   addition of y_off wraps modulo 2^32 as TFLM's int32 one does)
 * ff_leaky_relu_s16: the same on int16 data, clamped to [-32768, 32767]; TFLM's int16
 *                   LEAKY_RELU applies both zero points as the int8 one does, and |d| < 2^16.
 *
 * Each output element depends only on the same input element, so y may equal x.
 */
#ifndef FF_ACT_H
#define FF_ACT_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t n;
    int32_t x_off, y_off;
    int32_t mult, shift;
    int32_t act_min, act_max;
} ff_relu_s8_params;

typedef struct {
    int32_t n;
    int32_t act_min, act_max;
} ff_relu6_s8_params;

typedef struct {
    int32_t n;
    int32_t x_off, y_off;
    int32_t mult, shift;
    int32_t alpha_mult, alpha_shift, alpha_sign;
} ff_leaky_relu_s8_params;

/* The int16 kernel takes the same parameters. */
typedef ff_leaky_relu_s8_params ff_leaky_relu_s16_params;

void ff_relu_s8(FF_CONST ff_relu_s8_params *p, const int8_t *x, int8_t *y);
void ff_relu6_s8(FF_CONST ff_relu6_s8_params *p, const int8_t *x, int8_t *y);
void ff_leaky_relu_s8(FF_CONST ff_leaky_relu_s8_params *p, const int8_t *x, int8_t *y);
void ff_leaky_relu_s16(FF_CONST ff_leaky_relu_s16_params *p, const int16_t *x, int16_t *y);

#endif /* FF_ACT_H */
