/* Standalone piecewise activations (int8; LEAKY_RELU also int16), TFLM's RELU, RELU6,
 * LEAKY_RELU and HARD_SWISH.
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
 * ff_hard_swish_s8: TFLM's integer HardSwish, every value an int16 (Q15 multipliers, their
 *                   exponents; out_exp <= 0):
 *                   v = (x - x_off) * 128;  o = ff_srdhm16(v, out_mult)
 *                   r = v;  relu_exp > 0: r = ff_saturating_left_shift16(r, relu_exp - 1)
 *                   r = ff_srdhm16(r, relu_mult)
 *                   relu_exp > 0: r = ff_saturating_left_shift16(r, 1)
 *                   relu_exp < 0: r = ff_rdbpot16(r, -relu_exp)
 *                   r = (r + 2^15) >> 1          (relu6(x + 3) / 6 in Q15, [0, 1])
 *                   y = clamp(ff_rdbpot16(ff_sdhm16(r, o), -out_exp) + y_off, -128, 127)
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

typedef struct {
    int32_t n;
    int32_t x_off, y_off;
    int32_t out_mult, out_exp;    /* s_x / (128 s_y) */
    int32_t relu_mult, relu_exp;  /* (s_x / 128) / (3 / 2^15) */
} ff_hard_swish_s8_params;

/* The int16 kernel takes the same parameters. */
typedef ff_leaky_relu_s8_params ff_leaky_relu_s16_params;

void ff_relu_s8(FF_CONST ff_relu_s8_params *p, const int8_t *x, int8_t *y);
void ff_relu6_s8(FF_CONST ff_relu6_s8_params *p, const int8_t *x, int8_t *y);
void ff_leaky_relu_s8(FF_CONST ff_leaky_relu_s8_params *p, const int8_t *x, int8_t *y);
void ff_hard_swish_s8(FF_CONST ff_hard_swish_s8_params *p, const int8_t *x, int8_t *y);
void ff_leaky_relu_s16(FF_CONST ff_leaky_relu_s16_params *p, const int16_t *x, int16_t *y);

#endif /* FF_ACT_H */
