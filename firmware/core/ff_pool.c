/* Pooling kernels; the math is in ff_pool.h.
 *
 * Channels are innermost in memory, so each window is walked once per block of channels with the
 * running sums (or maxima) of the whole block held on the stack: every read is contiguous.
 */
#include <stddef.h>

#include "ff_pool.h"

#define FF_POOL_BLOCK 16

/* The part of output pixel (oy, ox)'s window inside the input image: rows [y0, y1) and
 * columns [x0, x1). */
typedef struct {
    int32_t y0, y1, x0, x1;
} pool_window;

static pool_window window_at(FF_CONST ff_pool2d_params *p, int32_t oy, int32_t ox) {
    pool_window w;
    const int32_t iy = oy * p->stride_h - p->pad_top;
    const int32_t ix = ox * p->stride_w - p->pad_left;
    w.y0 = iy < 0 ? 0 : iy;
    w.y1 = iy + p->k_h < p->in_h ? iy + p->k_h : p->in_h;
    w.x0 = ix < 0 ? 0 : ix;
    w.x1 = ix + p->k_w < p->in_w ? ix + p->k_w : p->in_w;
    return w;
}

/* s / n rounded half away from zero, the way TFLM writes it (C division truncates). */
static int32_t rounded_mean(int32_t s, int32_t n) {
    return s > 0 ? (s + n / 2) / n : (s - n / 2) / n;
}

static int32_t block_len(int32_t c, int32_t c0) {
    return c - c0 < FF_POOL_BLOCK ? c - c0 : FF_POOL_BLOCK;
}

/* The one pooling body, pool2d below: the element size (1 or 2 bytes) and the op are constants at
 * every call and the body is inlined into each public kernel (FF_INLINE_BODY), so each kernel gets
 * its own loops with no test of size or op inside them. The tiny helpers switch on those
 * constants and work in the element's own type, as separate kernels would: maxima are compared
 * and kept at the element's width (8-bit cores such as AVR compare int32 values slowly), sums in
 * int32 (at most k_h * k_w * 2^15 in magnitude). A block's accumulators start from the window's
 * first pixel (no window is empty), which saves a pass over them, and x is walked by pointer
 * steps rather than index products. */
enum { POOL_AVG, POOL_MAX };

typedef union {
    int32_t sum[FF_POOL_BLOCK];
    int16_t max16[FF_POOL_BLOCK];
    int8_t max8[FF_POOL_BLOCK];
} pool_acc;

/* acc[j] = x[j], from the window's first pixel. */
static inline void acc_first(pool_acc *a, int32_t j, const void *x, int size, int op) {
    if (op == POOL_AVG) {
        a->sum[j] = size == 1 ? ((const int8_t *)x)[j] : ((const int16_t *)x)[j];
    } else if (size == 1) {
        a->max8[j] = ((const int8_t *)x)[j];
    } else {
        a->max16[j] = ((const int16_t *)x)[j];
    }
}

/* acc[j] = acc[j] + x[j] or max(acc[j], x[j]). */
static inline void acc_step(pool_acc *a, int32_t j, const void *x, int size, int op) {
    if (op == POOL_AVG) {
        a->sum[j] += size == 1 ? ((const int8_t *)x)[j] : ((const int16_t *)x)[j];
    } else if (size == 1) {
        const int8_t v = ((const int8_t *)x)[j];
        a->max8[j] = v > a->max8[j] ? v : a->max8[j];
    } else {
        const int16_t v = ((const int16_t *)x)[j];
        a->max16[j] = v > a->max16[j] ? v : a->max16[j];
    }
}

/* The pooled value of channel j before the clamp; n is the number of pixels in the window. */
static inline int32_t acc_result(const pool_acc *a, int32_t j, int32_t n, int size, int op) {
    if (op == POOL_AVG) {
        return rounded_mean(a->sum[j], n);
    }
    return size == 1 ? a->max8[j] : a->max16[j];
}

static inline void store_elem(void *y, int32_t i, int32_t v, int size) {
    if (size == 1) {
        ((int8_t *)y)[i] = (int8_t)v;
    } else {
        ((int16_t *)y)[i] = (int16_t)v;
    }
}

static FF_INLINE_BODY void pool2d(FF_CONST ff_pool2d_params *p, const void *x, void *y, int size,
                                  int op) {
    const int32_t c = p->c, in_w = p->in_w, lo = p->act_min, hi = p->act_max;
    /* Byte steps in x, in the pointer-sized type (on 8-bit cores 32-bit products are calls). */
    const ptrdiff_t pixel = (ptrdiff_t)c * size, row = (ptrdiff_t)in_w * pixel;
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int32_t xb = b * p->in_h * in_w * c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += c) {
                const pool_window w = window_at(p, oy, ox);
                const int32_t n = (w.y1 - w.y0) * (w.x1 - w.x0);
                const ptrdiff_t span = (ptrdiff_t)(w.x1 - w.x0) * pixel; /* a window row */
                const char *first = (const char *)x + (ptrdiff_t)xb * size
                                    + (ptrdiff_t)w.y0 * row + (ptrdiff_t)w.x0 * pixel;
                for (int32_t c0 = 0; c0 < c; c0 += FF_POOL_BLOCK, first += FF_POOL_BLOCK * size) {
                    const int32_t nb = block_len(c, c0);
                    pool_acc a;
                    for (int32_t j = 0; j < nb; j++) {
                        acc_first(&a, j, first, size, op);
                    }
                    /* The rest of the window, row by row; the first row resumes after `first`. */
                    const char *xrow = first;
                    const char *xp = first + pixel;
                    for (int32_t iy = w.y0; iy < w.y1; iy++, xrow += row, xp = xrow) {
                        for (const char *end = xrow + span; xp != end; xp += pixel) {
                            for (int32_t j = 0; j < nb; j++) {
                                acc_step(&a, j, xp, size, op);
                            }
                        }
                    }
                    for (int32_t j = 0; j < nb; j++) {
                        store_elem(y, yo + c0 + j, ff_clamp(acc_result(&a, j, n, size, op), lo, hi),
                                   size);
                    }
                }
            }
        }
    }
}

void ff_avgpool2d_s8(FF_CONST ff_pool2d_params *p, const int8_t *x, int8_t *y) {
    pool2d(p, x, y, 1, POOL_AVG);
}

void ff_avgpool2d_s16(FF_CONST ff_pool2d_params *p, const int16_t *x, int16_t *y) {
    pool2d(p, x, y, 2, POOL_AVG);
}

void ff_maxpool2d_s8(FF_CONST ff_pool2d_params *p, const int8_t *x, int8_t *y) {
    pool2d(p, x, y, 1, POOL_MAX);
}

void ff_maxpool2d_s16(FF_CONST ff_pool2d_params *p, const int16_t *x, int16_t *y) {
    pool2d(p, x, y, 2, POOL_MAX);
}
