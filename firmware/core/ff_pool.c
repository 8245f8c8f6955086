/* Pooling kernels; the math (and the proof that the average needs no division) is in
 * ff_pool.h.
 *
 * Loop structure: output pixel, then channels four at a time, then the window: the four running
 * sums (or maxima) live in registers while the window's pixels stream by, each read once. With
 * the DSP extension an int8 block of four channels is one word per pixel: two SXTAB16 add its
 * bytes into 16-bit lanes (widened to 32 bits at the end of a window of at most 255 pixels,
 * else after each window row and every 255 pixels, so they cannot overflow), or SSUB8/SEL keep
 * the bytewise maximum. A window that covers whole
 * input rows is one contiguous run. Channels past the last multiple of
 * four go one at a time. Averages divide by the window count through the prepared reciprocal.
 */
#include <stddef.h>

#include "ff_pool.h"

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

/* The division by a window count n: half = n / 2 and the prepared reciprocal (m, c). */
typedef struct {
    uint32_t half, m, c;
} pool_div;

/* The average of a window of n elements summing to s, rounded half away from zero, as TFLM's
 * (s > 0 ? s + n/2 : s - n/2) / n: sign(s) * floor((|s| + n/2) / n), the division by the
 * prepared reciprocal (ff_pool.h). */
static inline int32_t pool_mean(int32_t s, const pool_div *d) {
    const uint32_t t = (uint32_t)(s < 0 ? -s : s) + d->half;
    const uint32_t q = (uint32_t)(((uint64_t)(2u * t) * d->m) >> 32) >> d->c;
    return s < 0 ? -(int32_t)q : (int32_t)q;
}

enum { POOL_AVG, POOL_MAX };

#if defined(FF_DSP)
#define FF_POOL_DSP 1

/* Adds the 16-bit lanes of e (channels 0, 2) and o (channels 1, 3) to the sums s[0..3]. */
static inline void pool_widen(int32_t s[4], uint32_t e, uint32_t o) {
    s[0] += (int16_t)(e & 0xFFFFu);
    s[1] += (int16_t)(o & 0xFFFFu);
    s[2] += ff_asr32((int32_t)e, 16);
    s[3] += ff_asr32((int32_t)o, 16);
}
#else
#define FF_POOL_DSP 0
#endif

/* Element i of an int8 (size 1), int16 (size 2) or int32 (size 4, max pooling only: a sum
 * of int32 values could overflow) array. */
static inline int32_t pool_load(const void *x, ptrdiff_t i, int size) {
    return size == 1 ? ((const int8_t *)x)[i]
                     : size == 2 ? ((const int16_t *)x)[i] : ((const int32_t *)x)[i];
}

static inline void pool_store(void *y, int32_t i, int32_t v, int size) {
    if (size == 1) {
        ((int8_t *)y)[i] = (int8_t)v;
    } else if (size == 2) {
        ((int16_t *)y)[i] = (int16_t)v;
    } else {
        ((int32_t *)y)[i] = v;
    }
}

static inline int32_t pool_step(int32_t a, int32_t v, int op) {
    return op == POOL_AVG ? a + v : (v > a ? v : a);
}

/* The body of every public kernel: the element size (1 or 2 bytes), the op and `fast` are
 * constants at each call (FF_INLINE_BODY), so each kernel gets its own loops. `fast` (int8 on
 * DSP cores only) promises c % 4 == 0 and windows of at most 255 elements: the code for longer
 * windows and for the last channels drops out. */
static FF_INLINE_BODY void pool2d(FF_CONST ff_pool2d_params *p, const void *x, void *y,
                                  int size, int op, int fast) {
    const int32_t c = p->c, in_w = p->in_w, lo = p->act_min, hi = p->act_max;
    const ptrdiff_t row = (ptrdiff_t)in_w * c; /* elements per input row */
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const ptrdiff_t xb = (ptrdiff_t)b * p->in_h * row;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += c) {
                pool_window w = window_at(p, oy, ox);
                const int32_t n = (w.y1 - w.y0) * (w.x1 - w.x0);
                const ptrdiff_t first = xb + w.y0 * row + (ptrdiff_t)w.x0 * c;
                ptrdiff_t span = (ptrdiff_t)(w.x1 - w.x0) * c; /* a window row */
                if (span == row) { /* whole input rows: one contiguous run */
                    span *= w.y1 - w.y0;
                    w.y1 = w.y0 + 1;
                }
                pool_div dv = {0, 0, 0};
                if (op == POOL_AVG) {
                    dv.half = (uint32_t)(n >> 1);
                    dv.m = p->recip[2 * (n - p->n_min)];
                    dv.c = p->recip[2 * (n - p->n_min) + 1];
                }
                int32_t c0 = 0;
#if defined(FF_DSP)
                if (size == 1) {
                    /* at most 255 int8 values per 16-bit lane between widenings */
                    const ptrdiff_t chunk = 255 * (ptrdiff_t)c;
                    for (; c0 + 4 <= c; c0 += 4) {
                        const int8_t *xr = (const int8_t *)x + first + c0;
                        if (op == POOL_MAX) {
                            uint32_t m = ff_ld32(xr);
                            for (int32_t iy = w.y0; iy < w.y1; iy++, xr += row) {
                                for (ptrdiff_t j = 0; j < span; j += c) {
                                    m = ff_max4_s8(m, ff_ld32(xr + j));
                                }
                            }
                            int32_t v[4];
                            for (int32_t k = 0; k < 4; k++) {
                                v[k] = ff_clamp((int8_t)(m >> (8 * k)), lo, hi);
                            }
                            for (int32_t k = 0; k < 4; k++) {
                                pool_store(y, yo + c0 + k, v[k], 1);
                            }
                            continue;
                        }
                        uint32_t e = 0, o = 0; /* 16-bit lanes: channels (0, 2) and (1, 3) */
                        int32_t s[4] = {0, 0, 0, 0};
                        if (fast || n <= 255) { /* the whole window in the 16-bit lanes */
                            for (int32_t iy = w.y0; iy < w.y1; iy++, xr += row) {
                                for (ptrdiff_t j = 0; j < span; j += c) {
                                    const uint32_t v = ff_ld32(xr + j);
                                    e = __sxtab16(e, v);
                                    o = ff_sxtab16_ror8(o, v);
                                }
                            }
                        } else { /* widened every 255 pixels and after each row */
                            for (int32_t iy = w.y0; iy < w.y1; iy++, xr += row) {
                                for (ptrdiff_t j = 0; j < span;) {
                                    const ptrdiff_t end = span - j > chunk ? j + chunk : span;
                                    for (; j < end; j += c) {
                                        const uint32_t v = ff_ld32(xr + j);
                                        e = __sxtab16(e, v);
                                        o = ff_sxtab16_ror8(o, v);
                                    }
                                    pool_widen(s, e, o);
                                    e = o = 0;
                                }
                            }
                        }
                        pool_widen(s, e, o);
                        /* a loop, not four copies: the division runs once per output */
                        for (int32_t k = 0; k < 4; k++) {
                            pool_store(y, yo + c0 + k, ff_clamp(pool_mean(s[k], &dv), lo, hi), 1);
                        }
                    }
                }
#endif
                /* (on DSP cores the int8 blocks of four are all done above) */
                for (; c0 + 4 <= c && !(FF_POOL_DSP && size == 1); c0 += 4) {
                    ptrdiff_t xr = first + c0;
                    int32_t a0 = pool_load(x, xr, size), a1 = pool_load(x, xr + 1, size);
                    int32_t a2 = pool_load(x, xr + 2, size), a3 = pool_load(x, xr + 3, size);
                    ptrdiff_t j = c; /* the first pixel is in */
                    for (int32_t iy = w.y0; iy < w.y1; iy++, xr += row, j = 0) {
                        for (; j < span; j += c) {
                            a0 = pool_step(a0, pool_load(x, xr + j, size), op);
                            a1 = pool_step(a1, pool_load(x, xr + j + 1, size), op);
                            a2 = pool_step(a2, pool_load(x, xr + j + 2, size), op);
                            a3 = pool_step(a3, pool_load(x, xr + j + 3, size), op);
                        }
                    }
                    if (op == POOL_AVG) {
                        a0 = pool_mean(a0, &dv);
                        a1 = pool_mean(a1, &dv);
                        a2 = pool_mean(a2, &dv);
                        a3 = pool_mean(a3, &dv);
                    }
                    pool_store(y, yo + c0, ff_clamp(a0, lo, hi), size);
                    pool_store(y, yo + c0 + 1, ff_clamp(a1, lo, hi), size);
                    pool_store(y, yo + c0 + 2, ff_clamp(a2, lo, hi), size);
                    pool_store(y, yo + c0 + 3, ff_clamp(a3, lo, hi), size);
                }
                for (; !fast && c0 < c; c0++) { /* the last channels, one at a time */
                    ptrdiff_t xr = first + c0;
                    int32_t a = pool_load(x, xr, size);
                    ptrdiff_t j = c;
                    for (int32_t iy = w.y0; iy < w.y1; iy++, xr += row, j = 0) {
                        for (; j < span; j += c) {
                            a = pool_step(a, pool_load(x, xr + j, size), op);
                        }
                    }
                    if (op == POOL_AVG) {
                        a = pool_mean(a, &dv);
                    }
                    pool_store(y, yo + c0, ff_clamp(a, lo, hi), size);
                }
            }
        }
    }
}

void ff_avgpool2d_s8(FF_CONST ff_pool2d_params *p, const int8_t *x, int8_t *y) {
    pool2d(p, x, y, 1, POOL_AVG, 0);
}

void ff_avgpool2d_s8_fast(FF_CONST ff_pool2d_params *p, const int8_t *x, int8_t *y) {
#if FF_POOL_DSP
    pool2d(p, x, y, 1, POOL_AVG, 1);
#else
    ff_avgpool2d_s8(p, x, y); /* one copy of the body where there is no fast path */
#endif
}

void ff_avgpool2d_s16(FF_CONST ff_pool2d_params *p, const int16_t *x, int16_t *y) {
    pool2d(p, x, y, 2, POOL_AVG, 0);
}

void ff_maxpool2d_s8(FF_CONST ff_pool2d_params *p, const int8_t *x, int8_t *y) {
    pool2d(p, x, y, 1, POOL_MAX, 0);
}

void ff_maxpool2d_s16(FF_CONST ff_pool2d_params *p, const int16_t *x, int16_t *y) {
    pool2d(p, x, y, 2, POOL_MAX, 0);
}

void ff_maxpool2d_s32(FF_CONST ff_pool2d_params *p, const int32_t *x, int32_t *y) {
    pool2d(p, x, y, 4, POOL_MAX, 0);
}
