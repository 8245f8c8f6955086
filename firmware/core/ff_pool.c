/* Pooling kernels; the math is in ff_pool.h.
 *
 * Channels are innermost in memory, so each window is walked once per block of channels with the
 * running sums (or maxima) of the whole block held on the stack: every read is contiguous.
 */
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

void ff_avgpool2d_s8(FF_CONST ff_pool2d_params *p, const int8_t *x, int8_t *y) {
    const int32_t c = p->c, in_w = p->in_w, lo = p->act_min, hi = p->act_max;
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int32_t xb = b * p->in_h * in_w * c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += c) {
                const pool_window w = window_at(p, oy, ox);
                const int32_t n = (w.y1 - w.y0) * (w.x1 - w.x0);
                for (int32_t c0 = 0; c0 < c; c0 += FF_POOL_BLOCK) {
                    const int32_t nb = block_len(c, c0);
                    int32_t acc[FF_POOL_BLOCK];
                    for (int32_t j = 0; j < nb; j++) {
                        acc[j] = 0;
                    }
                    for (int32_t iy = w.y0; iy < w.y1; iy++) {
                        for (int32_t ix = w.x0; ix < w.x1; ix++) {
                            const int8_t *xp = x + xb + (iy * in_w + ix) * c + c0;
                            for (int32_t j = 0; j < nb; j++) {
                                acc[j] += xp[j];
                            }
                        }
                    }
                    for (int32_t j = 0; j < nb; j++) {
                        y[yo + c0 + j] = (int8_t)ff_clamp(rounded_mean(acc[j], n), lo, hi);
                    }
                }
            }
        }
    }
}

void ff_avgpool2d_s16(FF_CONST ff_pool2d_params *p, const int16_t *x, int16_t *y) {
    const int32_t c = p->c, in_w = p->in_w, lo = p->act_min, hi = p->act_max;
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int32_t xb = b * p->in_h * in_w * c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += c) {
                const pool_window w = window_at(p, oy, ox);
                const int32_t n = (w.y1 - w.y0) * (w.x1 - w.x0);
                for (int32_t c0 = 0; c0 < c; c0 += FF_POOL_BLOCK) {
                    const int32_t nb = block_len(c, c0);
                    int32_t acc[FF_POOL_BLOCK];
                    for (int32_t j = 0; j < nb; j++) {
                        acc[j] = 0;
                    }
                    for (int32_t iy = w.y0; iy < w.y1; iy++) {
                        for (int32_t ix = w.x0; ix < w.x1; ix++) {
                            const int16_t *xp = x + xb + (iy * in_w + ix) * c + c0;
                            for (int32_t j = 0; j < nb; j++) {
                                acc[j] += xp[j];
                            }
                        }
                    }
                    for (int32_t j = 0; j < nb; j++) {
                        y[yo + c0 + j] = (int16_t)ff_clamp(rounded_mean(acc[j], n), lo, hi);
                    }
                }
            }
        }
    }
}

void ff_maxpool2d_s8(FF_CONST ff_pool2d_params *p, const int8_t *x, int8_t *y) {
    const int32_t c = p->c, in_w = p->in_w, lo = p->act_min, hi = p->act_max;
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int32_t xb = b * p->in_h * in_w * c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += c) {
                const pool_window w = window_at(p, oy, ox);
                for (int32_t c0 = 0; c0 < c; c0 += FF_POOL_BLOCK) {
                    const int32_t nb = block_len(c, c0);
                    int8_t m[FF_POOL_BLOCK];
                    for (int32_t j = 0; j < nb; j++) {
                        m[j] = INT8_MIN;
                    }
                    for (int32_t iy = w.y0; iy < w.y1; iy++) {
                        for (int32_t ix = w.x0; ix < w.x1; ix++) {
                            const int8_t *xp = x + xb + (iy * in_w + ix) * c + c0;
                            for (int32_t j = 0; j < nb; j++) {
                                m[j] = xp[j] > m[j] ? xp[j] : m[j];
                            }
                        }
                    }
                    for (int32_t j = 0; j < nb; j++) {
                        y[yo + c0 + j] = (int8_t)ff_clamp(m[j], lo, hi);
                    }
                }
            }
        }
    }
}

void ff_maxpool2d_s16(FF_CONST ff_pool2d_params *p, const int16_t *x, int16_t *y) {
    const int32_t c = p->c, in_w = p->in_w, lo = p->act_min, hi = p->act_max;
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int32_t xb = b * p->in_h * in_w * c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += c) {
                const pool_window w = window_at(p, oy, ox);
                for (int32_t c0 = 0; c0 < c; c0 += FF_POOL_BLOCK) {
                    const int32_t nb = block_len(c, c0);
                    int16_t m[FF_POOL_BLOCK];
                    for (int32_t j = 0; j < nb; j++) {
                        m[j] = INT16_MIN;
                    }
                    for (int32_t iy = w.y0; iy < w.y1; iy++) {
                        for (int32_t ix = w.x0; ix < w.x1; ix++) {
                            const int16_t *xp = x + xb + (iy * in_w + ix) * c + c0;
                            for (int32_t j = 0; j < nb; j++) {
                                m[j] = xp[j] > m[j] ? xp[j] : m[j];
                            }
                        }
                    }
                    for (int32_t j = 0; j < nb; j++) {
                        y[yo + c0 + j] = (int16_t)ff_clamp(m[j], lo, hi);
                    }
                }
            }
        }
    }
}
