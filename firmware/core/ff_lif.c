/* Leaky integrate-and-fire neurons (ff_lif.h has the math). One body serves both membrane
 * types: `wide` says whether the state is int32 (else int16); every sum is int64, so nothing
 * wraps before the saturation to the membrane type. */
#include "ff_lif.h"

#include <stddef.h>

int32_t ff_lif_scratch_bytes(FF_CONST ff_lif_params *p) {
    return p->w_rec ? (p->neurons + 7) / 8 : 0;
}

static inline int64_t decay(int64_t v, int32_t factor, int32_t shift_decay) {
    if (shift_decay) {
        return v - ff_asr64(v, factor);
    }
    return ff_asr64(v * factor + (1 << 14), 15);
}

static inline int64_t sat(int64_t v, int wide) {
    const int64_t hi = wide ? INT32_MAX : INT16_MAX;
    const int64_t lo = wide ? INT32_MIN : INT16_MIN;
    return v > hi ? hi : v < lo ? lo : v;
}

static inline int64_t load(const void *a, ptrdiff_t i, int wide) {
    return wide ? ((const int32_t *)a)[i] : ((const int16_t *)a)[i];
}

static inline void store(void *a, ptrdiff_t i, int64_t v, int wide) {
    if (wide) {
        ((int32_t *)a)[i] = (int32_t)v;
    } else {
        ((int16_t *)a)[i] = (int16_t)v;
    }
}

static FF_INLINE_BODY void lif(FF_CONST ff_lif_params *p, const int32_t *current, void *syn,
                               void *mem, void *out, uint8_t *scratch, int wide) {
    const int32_t n_count = p->neurons;
    uint8_t *bits = (uint8_t *)out;
    for (int32_t r = 0; r < p->positions; r++) {
        const ptrdiff_t base = (ptrdiff_t)r * n_count;
        if (p->w_rec) { /* the row's previous spikes, before any membrane of it changes */
            for (int32_t j = 0; j < n_count; j++) {
                const int32_t t = p->thr[p->thr_per_neuron ? j : 0];
                const uint8_t m = (uint8_t)(1u << (j & 7));
                scratch[j >> 3] = (uint8_t)(load(mem, base + j, wide) > t
                                            ? scratch[j >> 3] | m : scratch[j >> 3] & ~m);
            }
        }
        for (int32_t n = 0; n < n_count; n++) {
            const ptrdiff_t i = base + n;
            const int32_t t = p->thr[p->thr_per_neuron ? n : 0];
            int64_t m = load(mem, i, wide);
            const int spiked = p->fires && m > t;
            int64_t d = current[i];
            if (p->w_rec) {
                FF_CONST int8_t *w = p->w_rec + (ptrdiff_t)n * n_count;
                for (int32_t j = 0; j < n_count; j++) {
                    if (scratch[j >> 3] & (1u << (j & 7))) {
                        d += w[j];
                    }
                }
            }
            if (p->alpha) {
                d = sat(decay(load(syn, i, wide), p->alpha[p->alpha_per_neuron ? n : 0],
                              p->shift_decay) + d, wide);
                store(syn, i, d, wide);
            }
            if (spiked && p->reset == FF_RESET_ZERO) {
                m = 0;
            }
            m = decay(m, p->beta[p->beta_per_neuron ? n : 0], p->shift_decay) + d;
            if (spiked && p->reset == FF_RESET_SUBTRACT) {
                m -= t;
            }
            m = sat(m, wide);
            store(mem, i, m, wide);
            if (!p->fires) {
                store(out, i, m, wide);
            } else {
                const uint8_t bit = (uint8_t)(1u << (i & 7));
                bits[i >> 3] = (uint8_t)(m > t ? bits[i >> 3] | bit : bits[i >> 3] & ~bit);
            }
        }
    }
}

void ff_lif_s16(FF_CONST ff_lif_params *p, const int32_t *current, int16_t *syn, int16_t *mem,
                void *out, uint8_t *scratch) {
    lif(p, current, syn, mem, out, scratch, 0);
}

void ff_lif_s32(FF_CONST ff_lif_params *p, const int32_t *current, int32_t *syn, int32_t *mem,
                void *out, uint8_t *scratch) {
    lif(p, current, syn, mem, out, scratch, 1);
}
