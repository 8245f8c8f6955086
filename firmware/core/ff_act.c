/* Standalone activation kernels; the math is in ff_act.h. */
#include "ff_act.h"

void ff_relu_s8(FF_CONST ff_relu_s8_params *p, const int8_t *x, int8_t *y) {
    const int32_t n = p->n, x_off = p->x_off, y_off = p->y_off;
    const int32_t mult = p->mult, shift = p->shift, lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < n; i++) {
        const int32_t v = y_off + ff_mbqm((int32_t)x[i] - x_off, mult, shift);
        y[i] = (int8_t)ff_clamp(v, lo, hi);
    }
}

void ff_relu6_s8(FF_CONST ff_relu6_s8_params *p, const int8_t *x, int8_t *y) {
    const int32_t n = p->n, lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < n; i++) {
        y[i] = (int8_t)ff_clamp(x[i], lo, hi);
    }
}

/* One LEAKY_RELU output before the clamp: y_off + the identity or the alpha branch. ff_mbqm
 * never returns INT32_MIN, so negating it is safe; the sum wraps as TFLM's int32 one does (only
 * scale ratios beyond 2^15 get near int32's limits). */
static int32_t leaky_one(FF_CONST ff_leaky_relu_s8_params *p, int32_t x) {
    const int32_t d = x - p->x_off;
    const int32_t v = d >= 0 ? ff_mbqm(d, p->mult, p->shift)
                             : p->alpha_sign * ff_mbqm(d, p->alpha_mult, p->alpha_shift);
    return ff_add32(p->y_off, v);
}

void ff_leaky_relu_s8(FF_CONST ff_leaky_relu_s8_params *p, const int8_t *x, int8_t *y) {
    const int32_t n = p->n;
    for (int32_t i = 0; i < n; i++) {
        y[i] = (int8_t)ff_clamp(leaky_one(p, x[i]), -128, 127);
    }
}

void ff_leaky_relu_s16(FF_CONST ff_leaky_relu_s16_params *p, const int16_t *x, int16_t *y) {
    const int32_t n = p->n;
    for (int32_t i = 0; i < n; i++) {
        y[i] = (int16_t)ff_clamp(leaky_one(p, x[i]), -32768L, 32767);
    }
}

/* The int16 steps of TFLM's reference HardSwish (ff_fixed.h). Every intermediate stays inside
 * int16: |v| <= 255 * 128, the Q15 products shrink, and the shifted relu value lies in
 * [0, 2^15 - 1], so the sum before the clamp is at most 32640 + 128 in magnitude. */
void ff_hard_swish_s8(FF_CONST ff_hard_swish_s8_params *p, const int8_t *x, int8_t *y) {
    const int32_t n = p->n, x_off = p->x_off, y_off = p->y_off;
    const int32_t out_mult = p->out_mult, out_exp = p->out_exp;
    const int32_t relu_mult = p->relu_mult, relu_exp = p->relu_exp;
    for (int32_t i = 0; i < n; i++) {
        const int32_t v = ((int32_t)x[i] - x_off) * 128;
        const int32_t o = ff_srdhm16(v, out_mult);
        int32_t r = v;
        if (relu_exp > 0) {
            r = ff_saturating_left_shift16(r, (int)relu_exp - 1);
        }
        r = ff_srdhm16(r, relu_mult);
        if (relu_exp > 0) {
            r = ff_saturating_left_shift16(r, 1);
        }
        if (relu_exp < 0) {
            r = ff_rdbpot16(r, (int)-relu_exp);
        }
        r = (r + ((int32_t)1 << 15)) >> 1;
        y[i] = (int8_t)ff_clamp(ff_rdbpot16(ff_sdhm16(r, o), (int)-out_exp) + y_off, -128, 127);
    }
}
