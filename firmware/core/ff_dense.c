/* Dense kernels; the math is in ff_dense.h. */
#include "ff_dense.h"

void ff_dense_s8(FF_CONST ff_dense_s8_params *p, const int8_t *x, FF_CONST int8_t *w,
                 FF_CONST int32_t *bias, int8_t *y) {
    const int32_t rows = p->rows, in_n = p->in_features, out_n = p->out_features;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *xr = x + r * in_n;
        for (int32_t o = 0; o < out_n; o++) {
            FF_CONST int8_t *wo = w + o * in_n;
            int32_t acc = bias[o];
            for (int32_t k = 0; k < in_n; k++) {
                acc += ((int32_t)xr[k] + in_offset) * (int32_t)wo[k];
            }
            acc = ff_mbqm(acc, p->mult[o], p->shift[o]) + out_offset;
            y[r * out_n + o] = (int8_t)ff_clamp(acc, lo, hi);
        }
    }
}
