/* Smooth activations, int8; the math is in ff_nonlinear.h. */
#include "ff_nonlinear.h"

void ff_sigmoid_s8(FF_CONST ff_act_s8_params *p, const int8_t *x, int8_t *y) {
    const int32_t n = p->size, zp = p->input_zero_point, radius = p->input_range_radius;
    const int32_t mult = p->input_multiplier, shift = p->input_shift;
    for (int32_t i = 0; i < n; i++) {
        const int32_t d = (int32_t)x[i] - zp;
        if (d <= -radius) {
            y[i] = -128;
        } else if (d >= radius) {
            y[i] = 127;
        } else {
            const int32_t a = ff_mbqm(d, mult, shift);
            const int32_t q = ff_rdbpot(ff_logistic_q31(a, 4), 31 - 8) - 128;
            y[i] = (int8_t)ff_clamp(q, -128, 127);
        }
    }
}

void ff_tanh_s8(FF_CONST ff_act_s8_params *p, const int8_t *x, int8_t *y) {
    const int32_t n = p->size, zp = p->input_zero_point, radius = p->input_range_radius;
    const int32_t mult = p->input_multiplier, shift = p->input_shift;
    for (int32_t i = 0; i < n; i++) {
        const int32_t d = (int32_t)x[i] - zp;
        if (d <= -radius) {
            y[i] = -128;
        } else if (d >= radius) {
            y[i] = 127;
        } else {
            const int32_t a = ff_mbqm(d, mult, shift);
            const int32_t q = ff_rdbpot(ff_tanh_q31(a, 4), 31 - 7);
            y[i] = (int8_t)ff_clamp(q, -128, 127);
        }
    }
}

/* exp(beta * input_scale * d) in Q0 for one kept difference d <= 0. */
static FF_OUT_OF_LINE int32_t ff_softmax_exp(FF_CONST ff_softmax_s8_params *p, int32_t d) {
    const int32_t scaled = ff_mbqm_greater_than_one(d, p->input_multiplier, p->input_left_shift);
    return ff_exp_on_negative_values(scaled, 5);
}

/* One body for both output widths: exactly one of y8 / y16 is non-null, a constant at each
 * call, so FF_INLINE_BODY specializes it (out_bits is 8 or 16). */
static FF_INLINE_BODY void softmax(FF_CONST ff_softmax_s8_params *p, const int8_t *x, int8_t *y8,
                                   int16_t *y16) {
    const int32_t rows = p->rows, depth = p->depth, diff_min = p->diff_min;
    const int32_t out_bits = y16 != 0 ? 16 : 8;
    const int32_t lo = y16 != 0 ? -32768 : -128, hi = y16 != 0 ? 32767 : 127;
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *xr = x + r * depth;
        int32_t max = -128;
        for (int32_t c = 0; c < depth; c++) {
            max = xr[c] > max ? xr[c] : max;
        }
        int32_t total = 0;
        for (int32_t c = 0; c < depth; c++) {
            const int32_t d = (int32_t)xr[c] - max;
            if (d >= diff_min) {
                total = ff_add32(total, ff_srmbpot(ff_softmax_exp(p, d), -12));
            }
        }
        int bits_over_unit;
        const int32_t scale = ff_get_reciprocal(total, 12, &bits_over_unit);
        int32_t exponent = (int32_t)bits_over_unit + 31 - out_bits;
        exponent = exponent > 0 ? exponent : 0;
        for (int32_t c = 0; c < depth; c++) {
            const int32_t d = (int32_t)xr[c] - max;
            int32_t v = lo;
            if (d >= diff_min) {
                const int32_t e = ff_softmax_exp(p, d);
                const int32_t quotient =
                    exponent > 31 ? 0 : ff_rdbpot(ff_srdhm(scale, e), exponent);
                v = ff_clamp(quotient + lo, lo, hi);
            }
            if (y16 != 0) {
                y16[r * depth + c] = (int16_t)v;
            } else {
                y8[r * depth + c] = (int8_t)v;
            }
        }
    }
}

void ff_softmax_s8(FF_CONST ff_softmax_s8_params *p, const int8_t *x, int8_t *y) {
    softmax(p, x, y, 0);
}

/* In place only for int8 output: an int16 y is twice the size of x. */
void ff_softmax_s8_s16(FF_CONST ff_softmax_s8_params *p, const int8_t *x, int16_t *y) {
    softmax(p, x, 0, y);
}
