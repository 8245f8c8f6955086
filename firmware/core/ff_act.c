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

void ff_leaky_relu_s8(FF_CONST ff_leaky_relu_s8_params *p, const int8_t *x, int8_t *y) {
    const int32_t n = p->n, x_off = p->x_off, y_off = p->y_off;
    const int32_t mult = p->mult, shift = p->shift;
    const int32_t alpha_mult = p->alpha_mult, alpha_shift = p->alpha_shift;
    const int32_t alpha_sign = p->alpha_sign;
    for (int32_t i = 0; i < n; i++) {
        const int32_t d = (int32_t)x[i] - x_off;
        const int32_t v = d >= 0 ? ff_mbqm(d, mult, shift)
                                 : alpha_sign * ff_mbqm(d, alpha_mult, alpha_shift);
        y[i] = (int8_t)ff_clamp(y_off + v, -128, 127);
    }
}
