/* Synaptic currents (ff_synapse.h has the math). */
#include "ff_synapse.h"

#include <stddef.h>

static inline int32_t spike_at(const uint8_t *x, ptrdiff_t i) {
    return (x[i >> 3] >> (i & 7)) & 1;
}

void ff_dense_u1_s8_s32(FF_CONST ff_dense_current_params *p, const uint8_t *x,
                        FF_CONST int8_t *w_t, FF_CONST int32_t *bias, int32_t *y) {
    const int32_t k_count = p->inputs, o_count = p->outputs;
    for (int32_t r = 0; r < p->rows; r++) {
        int32_t *out = y + (ptrdiff_t)r * o_count;
        const ptrdiff_t first = (ptrdiff_t)r * k_count; /* bit index of the row's input 0 */
        for (int32_t o = 0; o < o_count; o++) {
            out[o] = 0;
        }
        int32_t k = 0;
        while (k < k_count) {
            const ptrdiff_t i = first + k;
            if ((i & 7) == 0 && k + 8 <= k_count && x[i >> 3] == 0) {
                k += 8; /* eight silent inputs in one load */
                continue;
            }
            if (spike_at(x, i)) {
                FF_CONST int8_t *row = w_t + (ptrdiff_t)k * o_count;
                for (int32_t o = 0; o < o_count; o++) {
                    out[o] += row[o];
                }
            }
            k++;
        }
        for (int32_t o = 0; o < o_count; o++) {
            out[o] = bias[o] + out[o] * p->scale;
        }
    }
}

void ff_dense_u1_s8_s32_scan(FF_CONST ff_dense_current_params *p, const uint8_t *x,
                             FF_CONST int8_t *w, FF_CONST int32_t *bias, int32_t *y) {
    const int32_t k_count = p->inputs, o_count = p->outputs;
    for (int32_t r = 0; r < p->rows; r++) {
        const ptrdiff_t first = (ptrdiff_t)r * k_count;
        for (int32_t o = 0; o < o_count; o++) {
            FF_CONST int8_t *row = w + (ptrdiff_t)o * k_count;
            int32_t acc = 0;
            for (int32_t k = 0; k < k_count; k++) {
                acc += spike_at(x, first + k) * row[k];
            }
            y[(ptrdiff_t)r * o_count + o] = bias[o] + acc * p->scale;
        }
    }
}

void ff_dense_s8_s8_s32(FF_CONST ff_dense_current_params *p, const int8_t *x,
                        FF_CONST int8_t *w, FF_CONST int32_t *bias, int32_t *y) {
    const int32_t k_count = p->inputs, o_count = p->outputs;
    for (int32_t r = 0; r < p->rows; r++) {
        const int8_t *in = x + (ptrdiff_t)r * k_count;
        for (int32_t o = 0; o < o_count; o++) {
            FF_CONST int8_t *row = w + (ptrdiff_t)o * k_count;
            int32_t acc = 0;
            for (int32_t k = 0; k < k_count; k++) {
                acc += (in[k] + p->input_offset) * row[k];
            }
            y[(ptrdiff_t)r * o_count + o] = bias[o] + acc * p->scale;
        }
    }
}

/* One body for both input kinds: `spikes` says whether x holds bits (else int8 values). */
static FF_INLINE_BODY void conv(FF_CONST ff_conv_current_params *p, const void *x,
                                FF_CONST int8_t *w, FF_CONST int32_t *bias, int32_t *y,
                                int spikes) {
    const int32_t c = p->in_c;
    for (int32_t n = 0; n < p->batches; n++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                int32_t *out = y + (((ptrdiff_t)n * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (int32_t o = 0; o < p->out_c; o++) {
                    out[o] = 0;
                }
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        const ptrdiff_t at = (((ptrdiff_t)n * p->in_h + iy) * p->in_w + ix) * c;
                        for (int32_t i = 0; i < c; i++) {
                            int32_t v;
                            if (spikes) {
                                if (!spike_at((const uint8_t *)x, at + i)) {
                                    continue; /* a silent input adds nothing */
                                }
                                v = 1;
                            } else {
                                v = ((const int8_t *)x)[at + i] + p->input_offset;
                            }
                            FF_CONST int8_t *wi = w + ((ptrdiff_t)ky * p->k_w + kx) * c + i;
                            const ptrdiff_t o_stride = (ptrdiff_t)p->k_h * p->k_w * c;
                            for (int32_t o = 0; o < p->out_c; o++) {
                                out[o] += v * wi[(ptrdiff_t)o * o_stride];
                            }
                        }
                    }
                }
                for (int32_t o = 0; o < p->out_c; o++) {
                    out[o] = bias[o] + out[o] * p->scale;
                }
            }
        }
    }
}

void ff_conv2d_u1_s8_s32(FF_CONST ff_conv_current_params *p, const uint8_t *x,
                         FF_CONST int8_t *w, FF_CONST int32_t *bias, int32_t *y) {
    conv(p, x, w, bias, y, 1);
}

void ff_conv2d_s8_s8_s32(FF_CONST ff_conv_current_params *p, const int8_t *x,
                         FF_CONST int8_t *w, FF_CONST int32_t *bias, int32_t *y) {
    conv(p, x, w, bias, y, 0);
}
