/* Quantize / dequantize kernels; the math is in ff_quant.h. */
#include "ff_quant.h"

#define FF_QUOTIENT_LIMIT 131072.0f /* 2^17: beyond it every int8/int16 result saturates */

/* round(q) half away from zero for |q| <= 2^17, without libm: q - trunc(q) is exact. */
static int32_t round_half_away(float q) {
    int32_t r = (int32_t)q;
    const float frac = q - (float)r;
    if (frac >= 0.5f) {
        r += 1;
    } else if (frac <= -0.5f) {
        r -= 1;
    }
    return r;
}

/* round_half_away(x / scale) + zero_point, the quotient clamped to +-2^17 (NaN to -2^17). */
static int32_t quantize_one(float x, float scale, int32_t zero_point) {
    float q = x / scale;
    if (!(q > -FF_QUOTIENT_LIMIT)) { /* also NaN */
        q = -FF_QUOTIENT_LIMIT;
    } else if (q > FF_QUOTIENT_LIMIT) {
        q = FF_QUOTIENT_LIMIT;
    }
    return round_half_away(q) + zero_point;
}

/* ff_mbqm(x - x_off, mult, shift) + y_off before the clamp, both int32 operations wrapping. */
static int32_t requantize_one(FF_CONST ff_quantize_s8_s8_params *p, int32_t x) {
    return ff_add32(ff_mbqm(ff_sub32(x, p->x_off), p->mult, p->shift), p->y_off);
}

void ff_quantize_f32_s8(FF_CONST ff_quantize_f32_s8_params *p, const float *x, int8_t *y) {
    const int32_t n = p->n, zp = p->zero_point;
    const float scale = p->scale;
    for (int32_t i = 0; i < n; i++) {
        y[i] = (int8_t)ff_clamp(quantize_one(x[i], scale, zp), -128, 127);
    }
}

void ff_quantize_f32_s16(FF_CONST ff_quantize_f32_s16_params *p, const float *x, int16_t *y) {
    const int32_t n = p->n, zp = p->zero_point;
    const float scale = p->scale;
    for (int32_t i = 0; i < n; i++) {
        y[i] = (int16_t)ff_clamp(quantize_one(x[i], scale, zp), -32768L, 32767);
    }
}

void ff_quantize_s8_s8(FF_CONST ff_quantize_s8_s8_params *p, const int8_t *x, int8_t *y) {
    for (int32_t i = 0; i < p->n; i++) {
        y[i] = (int8_t)ff_clamp(requantize_one(p, x[i]), -128, 127);
    }
}

void ff_quantize_s8_s16(FF_CONST ff_quantize_s8_s16_params *p, const int8_t *x, int16_t *y) {
    for (int32_t i = 0; i < p->n; i++) {
        y[i] = (int16_t)ff_clamp(requantize_one(p, x[i]), -32768L, 32767);
    }
}

void ff_quantize_s16_s8(FF_CONST ff_quantize_s16_s8_params *p, const int16_t *x, int8_t *y) {
    for (int32_t i = 0; i < p->n; i++) {
        y[i] = (int8_t)ff_clamp(requantize_one(p, x[i]), -128, 127);
    }
}

void ff_quantize_s16_s16(FF_CONST ff_quantize_s16_s16_params *p, const int16_t *x, int16_t *y) {
    for (int32_t i = 0; i < p->n; i++) {
        y[i] = (int16_t)ff_clamp(requantize_one(p, x[i]), -32768L, 32767);
    }
}

void ff_quantize_s8_s32(FF_CONST ff_quantize_s8_s32_params *p, const int8_t *x, int32_t *y) {
    for (int32_t i = 0; i < p->n; i++) {
        y[i] = requantize_one(p, x[i]);
    }
}

void ff_quantize_s16_s32(FF_CONST ff_quantize_s16_s32_params *p, const int16_t *x, int32_t *y) {
    for (int32_t i = 0; i < p->n; i++) {
        y[i] = requantize_one(p, x[i]);
    }
}

void ff_quantize_s32_s8(FF_CONST ff_quantize_s32_s8_params *p, const int32_t *x, int8_t *y) {
    for (int32_t i = 0; i < p->n; i++) {
        y[i] = (int8_t)ff_clamp(requantize_one(p, x[i]), -128, 127);
    }
}

void ff_quantize_s32_s16(FF_CONST ff_quantize_s32_s16_params *p, const int32_t *x, int16_t *y) {
    for (int32_t i = 0; i < p->n; i++) {
        y[i] = (int16_t)ff_clamp(requantize_one(p, x[i]), -32768L, 32767);
    }
}

void ff_dequantize_s8_f32(FF_CONST ff_dequantize_s8_f32_params *p, const int8_t *x, float *y) {
    const int32_t n = p->n, zp = p->zero_point;
    const float scale = p->scale;
    for (int32_t i = 0; i < n; i++) {
        y[i] = scale * (float)((int32_t)x[i] - zp);
    }
}

void ff_dequantize_s16_f32(FF_CONST ff_dequantize_s16_f32_params *p, const int16_t *x,
                           float *y) {
    const int32_t n = p->n, zp = p->zero_point;
    const float scale = p->scale;
    for (int32_t i = 0; i < n; i++) {
        y[i] = scale * (float)((int32_t)x[i] - zp);
    }
}
