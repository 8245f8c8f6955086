/* Quantize / dequantize kernels; the math is in ff_quant.h. */
#include "ff_quant.h"

#define FF_QUOTIENT_LIMIT 131072.0f /* 2^17: beyond it every int8 result saturates */

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

void ff_quantize_f32_s8(FF_CONST ff_quantize_f32_s8_params *p, const float *x, int8_t *y) {
    const int32_t n = p->n, zp = p->zero_point;
    const float scale = p->scale;
    for (int32_t i = 0; i < n; i++) {
        float q = x[i] / scale;
        if (!(q > -FF_QUOTIENT_LIMIT)) { /* also NaN */
            q = -FF_QUOTIENT_LIMIT;
        } else if (q > FF_QUOTIENT_LIMIT) {
            q = FF_QUOTIENT_LIMIT;
        }
        y[i] = (int8_t)ff_clamp(round_half_away(q) + zp, -128, 127);
    }
}

void ff_quantize_s8_s8(FF_CONST ff_quantize_s8_s8_params *p, const int8_t *x, int8_t *y) {
    const int32_t n = p->n, x_off = p->x_off, y_off = p->y_off;
    const int32_t mult = p->mult, shift = p->shift;
    for (int32_t i = 0; i < n; i++) {
        const int32_t v = ff_mbqm((int32_t)x[i] - x_off, mult, shift) + y_off;
        y[i] = (int8_t)ff_clamp(v, -128, 127);
    }
}

void ff_dequantize_s8_f32(FF_CONST ff_dequantize_s8_f32_params *p, const int8_t *x, float *y) {
    const int32_t n = p->n, zp = p->zero_point;
    const float scale = p->scale;
    for (int32_t i = 0; i < n; i++) {
        y[i] = scale * (float)((int32_t)x[i] - zp);
    }
}
