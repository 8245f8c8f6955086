/* SVDF kernels; the math is in ff_svdf.h.
 *
 * One body (svdf below) serves both state types: the element size is a constant at each call
 * and the body is inlined into each public kernel (FF_INLINE_BODY), so each kernel gets its own
 * loops. Every sum TFLM lets wrap in int32 is kept in uint32_t, whose arithmetic wraps without
 * undefined behaviour; each product fits int32 (|x + offset| <= 255, |w_feature| <= 128;
 * |S - zero point| <= 65535, |w_time| <= 32768).
 */
#include "ff_svdf.h"

/* sum_i (x[i] + offset) * w[i], mod 2^32. */
static uint32_t feature_sum(const int8_t *x, FF_CONST int8_t *w, int32_t n, int32_t offset) {
    uint32_t acc = 0;
    int32_t i;
    for (i = 0; i < n; i++) {
        acc += (uint32_t)(((int32_t)x[i] + offset) * (int32_t)w[i]);
    }
    return acc;
}

/* The low `bits` bits of v as a two's-complement value (bits = 8 or 16). */
static int32_t wrap_bits(int32_t v, int bits) {
    const uint32_t half = (uint32_t)1 << (bits - 1);
    return (int32_t)(((uint32_t)v + half) & (2 * half - 1)) - (int32_t)half;
}

/* Shift the row s (m entries) left by one, append newest, return
 * sum_k w[k] * (s[k] - zp) mod 2^32 over the new row. */
static inline uint32_t row_s16(int16_t *s, FF_CONST int16_t *w, int32_t m, int32_t newest,
                               int32_t zp) {
    uint32_t acc = 0;
    int32_t k;
    for (k = 0; k + 1 < m; k++) {
        s[k] = s[k + 1];
        acc += (uint32_t)((int32_t)w[k] * ((int32_t)s[k] - zp));
    }
    s[m - 1] = (int16_t)newest;
    return acc + (uint32_t)((int32_t)w[m - 1] * (newest - zp));
}

static inline uint32_t row_s8(int8_t *s, FF_CONST int8_t *w, int32_t m, int32_t newest,
                              int32_t zp) {
    uint32_t acc = 0;
    int32_t k;
    for (k = 0; k + 1 < m; k++) {
        s[k] = s[k + 1];
        acc += (uint32_t)((int32_t)w[k] * ((int32_t)s[k] - zp));
    }
    s[m - 1] = (int8_t)newest;
    return acc + (uint32_t)((int32_t)w[m - 1] * (newest - zp));
}

/* The one SVDF body: size is the state element size (1 or 2 bytes). */
static FF_INLINE_BODY void svdf(FF_CONST ff_svdf_params *p, const int8_t *x,
                                FF_CONST int8_t *w_feature, FF_CONST void *w_time,
                                FF_CONST int32_t *bias, void *state, int8_t *y, int size) {
    const int32_t n_in = p->input_size, filters = p->filters, m = p->memory, rank = p->rank;
    const int32_t units = filters / rank, zp = p->state_zero_point;
    const int bits = 8 * size;
    const int32_t hi = (int32_t)(((uint32_t)1 << (bits - 1)) - 1), lo = -hi - 1;
    int32_t b, u, r;
    for (b = 0; b < p->batch; b++) {
        const int8_t *xb = x + b * n_in;
        for (u = 0; u < units; u++) {
            uint32_t acc = bias != 0 ? (uint32_t)bias[u] : 0u;
            for (r = 0; r < rank; r++) {
                const int32_t f = u * rank + r;
                const int32_t row = (b * filters + f) * m;
                const int32_t d = (int32_t)feature_sum(xb, w_feature + f * n_in, n_in,
                                                       p->input_offset);
                const int32_t a = ff_clamp(ff_mbqm(d, p->feature_mult, p->feature_shift), lo, hi);
                const int32_t newest = wrap_bits(zp + a, bits);
                if (size == 1) {
                    acc += row_s8((int8_t *)state + row, (FF_CONST int8_t *)w_time + f * m, m,
                                  newest, zp);
                } else {
                    acc += row_s16((int16_t *)state + row, (FF_CONST int16_t *)w_time + f * m, m,
                                   newest, zp);
                }
            }
            y[b * units + u] = (int8_t)ff_clamp(
                ff_add32(ff_mbqm((int32_t)acc, p->output_mult, p->output_shift),
                         p->output_zero_point),
                p->act_min, p->act_max);
        }
    }
}

void ff_svdf_s8_s16(FF_CONST ff_svdf_params *p, const int8_t *x, FF_CONST int8_t *w_feature,
                    FF_CONST int16_t *w_time, FF_CONST int32_t *bias, int16_t *state, int8_t *y) {
    svdf(p, x, w_feature, w_time, bias, state, y, 2);
}

void ff_svdf_s8(FF_CONST ff_svdf_params *p, const int8_t *x, FF_CONST int8_t *w_feature,
                FF_CONST int8_t *w_time, FF_CONST int32_t *bias, int8_t *state, int8_t *y) {
    svdf(p, x, w_feature, w_time, bias, state, y, 1);
}
