/* Reduction kernels; the math is in ff_reduce.h. */
#include "ff_reduce.h"

/* Sum of the reduced block that starts at x (wrapping int32, as TFLM's accumulator). */
static int32_t block_sum(FF_CONST ff_mean_s8_params *p, const int8_t *x) {
    uint32_t sum = 0;
    for (int32_t r0 = 0; r0 < p->red_dims[0]; r0++) {
        const int8_t *x0 = x + r0 * p->red_strides[0];
        for (int32_t r1 = 0; r1 < p->red_dims[1]; r1++) {
            const int8_t *x1 = x0 + r1 * p->red_strides[1];
            for (int32_t r2 = 0; r2 < p->red_dims[2]; r2++) {
                const int8_t *x2 = x1 + r2 * p->red_strides[2];
                for (int32_t r3 = 0; r3 < p->red_dims[3]; r3++) {
                    sum += (uint32_t)(int32_t)x2[r3 * p->red_strides[3]];
                }
            }
        }
    }
    return (int32_t)(sum - (uint32_t)p->in_zp_count);
}

void ff_mean_s8(FF_CONST ff_mean_s8_params *p, const int8_t *x, int8_t *y) {
    int32_t o = 0;
    for (int32_t k0 = 0; k0 < p->out_dims[0]; k0++) {
        for (int32_t k1 = 0; k1 < p->out_dims[1]; k1++) {
            for (int32_t k2 = 0; k2 < p->out_dims[2]; k2++) {
                for (int32_t k3 = 0; k3 < p->out_dims[3]; k3++, o++) {
                    const int32_t base = k0 * p->out_strides[0] + k1 * p->out_strides[1]
                                         + k2 * p->out_strides[2] + k3 * p->out_strides[3];
                    const int32_t acc = block_sum(p, x + base);
                    const int32_t v = ff_mbqm(acc, p->mult, p->shift) + p->out_offset;
                    y[o] = (int8_t)ff_clamp(v, -128, 127);
                }
            }
        }
    }
}
