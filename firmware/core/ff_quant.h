/* Conversions between float32 and int8/int16 and between two integer quantizations (TFLM's
 * QUANTIZE and DEQUANTIZE), over n elements.
 *
 * ff_quantize_f32_s8 / _f32_s16:
 *                       q = x / scale (float32 division; |q| beyond 2^17 is first clamped to
 *                       +-2^17, NaN to -2^17, which changes no result and keeps the conversion
 *                       to int32 defined); y = clamp(round_half_away(q) + zero_point, qmin, qmax)
 * ff_quantize_<in>_<out> for the pairs TFLM requantizes, s8/s16 -> s8/s16/s32 and
 *                       s32 -> s8/s16 (TFLM's Requantize):
 *                       y = clamp(ff_mbqm(x - x_off, mult, shift) + y_off, qmin, qmax)
 *                       (x_off and y_off are the zero points; the subtraction and the addition
 *                       wrap modulo 2^32 as TFLM's int32 ones do, which only int32 data or
 *                       int32 zero points can reach; an s32 output is not clamped)
 * ff_dequantize_s8_f32 / _s16_f32:
 *                       y = scale * (float)(x - zero_point), one float32 multiply: TFLM's
 *                       double product of a float32 scale and a 9- or 17-bit integer is exact,
 *                       so rounding it to float32 gives the same bits.
 * qmin, qmax are the output type's limits.
 *
 * The float kernels assume IEEE-754 single precision with round-to-nearest (as TFLM does).
 * The integer kernels whose input and output have the same width may run in place (y == x).
 */
#ifndef FF_QUANT_H
#define FF_QUANT_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t n;
    float scale;
    int32_t zero_point;
} ff_quantize_f32_s8_params;

typedef struct {
    int32_t n;
    int32_t x_off, y_off;
    int32_t mult, shift;
} ff_quantize_s8_s8_params;

typedef struct {
    int32_t n;
    float scale;
    int32_t zero_point;
} ff_dequantize_s8_f32_params;

/* The int16 kernels take the same parameters as their int8 counterparts. */
typedef ff_quantize_f32_s8_params ff_quantize_f32_s16_params;
typedef ff_quantize_s8_s8_params ff_quantize_s8_s16_params;
typedef ff_quantize_s8_s8_params ff_quantize_s16_s8_params;
typedef ff_quantize_s8_s8_params ff_quantize_s16_s16_params;
typedef ff_quantize_s8_s8_params ff_quantize_s8_s32_params;
typedef ff_quantize_s8_s8_params ff_quantize_s16_s32_params;
typedef ff_quantize_s8_s8_params ff_quantize_s32_s8_params;
typedef ff_quantize_s8_s8_params ff_quantize_s32_s16_params;
typedef ff_dequantize_s8_f32_params ff_dequantize_s16_f32_params;

void ff_quantize_f32_s8(FF_CONST ff_quantize_f32_s8_params *p, const float *x, int8_t *y);
void ff_quantize_s8_s8(FF_CONST ff_quantize_s8_s8_params *p, const int8_t *x, int8_t *y);
void ff_dequantize_s8_f32(FF_CONST ff_dequantize_s8_f32_params *p, const int8_t *x, float *y);

void ff_quantize_f32_s16(FF_CONST ff_quantize_f32_s16_params *p, const float *x, int16_t *y);
void ff_quantize_s8_s16(FF_CONST ff_quantize_s8_s16_params *p, const int8_t *x, int16_t *y);
void ff_quantize_s16_s8(FF_CONST ff_quantize_s16_s8_params *p, const int16_t *x, int8_t *y);
void ff_quantize_s16_s16(FF_CONST ff_quantize_s16_s16_params *p, const int16_t *x, int16_t *y);
void ff_dequantize_s16_f32(FF_CONST ff_dequantize_s16_f32_params *p, const int16_t *x,
                           float *y);

void ff_quantize_s8_s32(FF_CONST ff_quantize_s8_s32_params *p, const int8_t *x, int32_t *y);
void ff_quantize_s16_s32(FF_CONST ff_quantize_s16_s32_params *p, const int16_t *x, int32_t *y);
void ff_quantize_s32_s8(FF_CONST ff_quantize_s32_s8_params *p, const int32_t *x, int8_t *y);
void ff_quantize_s32_s16(FF_CONST ff_quantize_s32_s16_params *p, const int32_t *x, int16_t *y);

#endif /* FF_QUANT_H */
