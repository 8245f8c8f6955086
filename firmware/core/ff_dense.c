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

#define FF_S16_RUN 128

/* sum_k (x[k] + in_offset) * w[k], exact (see ff_dense.h for the run length). */
static int64_t dot_s16_s8(const int16_t *x, FF_CONST int8_t *w, int32_t n, int32_t in_offset) {
    int64_t acc = 0;
    int32_t k = 0;
    while (k < n) {
        const int32_t end = n - k > FF_S16_RUN ? k + FF_S16_RUN : n;
        int32_t part = 0;
        for (; k < end; k++) {
            part += ((int32_t)x[k] + in_offset) * (int32_t)w[k];
        }
        acc += part;
    }
    return acc;
}

/* Exactly one of bias64 / bias32 is non-null and selects the variant. */
static void dense_s16(FF_CONST ff_dense_s16_s8_params *p, const int16_t *x, FF_CONST int8_t *w,
                      FF_CONST int64_t *bias64, FF_CONST int32_t *bias32, int16_t *y) {
    const int32_t rows = p->rows, in_n = p->in_features, out_n = p->out_features;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t r = 0; r < rows; r++) {
        const int16_t *xr = x + r * in_n;
        for (int32_t o = 0; o < out_n; o++) {
            const int64_t sum = dot_s16_s8(xr, w + o * in_n, in_n, in_offset);
            int32_t v;
            if (bias64 != 0) {
                v = ff_mbqm64(sum + bias64[o], p->mult[o], p->shift[o]);
            } else {
                /* Modulo 2^32 through unsigned arithmetic, as ff_add32 does. */
                const uint32_t wrapped = (uint32_t)(uint64_t)sum + (uint32_t)bias32[o];
                v = ff_mbqm((int32_t)wrapped, p->mult[o], p->shift[o]);
            }
            /* The offset is added in wrapping int32, as TFLM's int32 addition does. */
            y[r * out_n + o] = (int16_t)ff_clamp(ff_add32(v, out_offset), lo, hi);
        }
    }
}

void ff_dense_s16_s8(FF_CONST ff_dense_s16_s8_params *p, const int16_t *x, FF_CONST int8_t *w,
                     FF_CONST int64_t *bias, int16_t *y) {
    dense_s16(p, x, w, bias, 0, y);
}

void ff_dense_s16_s8_s32(FF_CONST ff_dense_s16_s8_params *p, const int16_t *x,
                         FF_CONST int8_t *w, FF_CONST int32_t *bias, int16_t *y) {
    dense_s16(p, x, w, 0, bias, y);
}
