/* Leaky integrate-and-fire neurons, one time step per call; the math is in
 * converter/ops/spiking.py (the integer step) and every parameter is prepared there.
 *
 * The current I (s32) holds `positions` rows of `neurons` values (N, the last axis); each
 * neuron n of row r keeps its membrane mem[r * N + n] (and, for a synaptic layer, its
 * synaptic current syn[...]) in the caller's state region. Per neuron, with r = mem > thr
 * read before the update (the previous step's spike):
 *   d    = I + sum_j w_rec[n][j] * r_j            (recurrent layers; r_j of the same row)
 *   syn  = sat(decay(syn, alpha) + d)             (synaptic layers; otherwise syn = d)
 *   mem  = sat(decay(r && reset == ZERO ? 0 : mem, beta) + syn - (reset == SUBTRACT ? r * thr : 0))
 *   out  = mem > thr                              (firing layers: one bit per neuron)
 *   out  = mem                                    (readout layers, which never reset)
 * decay(v, b) = (v * b + 2^14) >> 15 (Q15) or v - (v >> k) (shift), the shifts arithmetic;
 * sat saturates to the membrane type. beta, alpha and thr hold one entry per neuron or one
 * for the layer (`*_per_neuron`). Spikes are bits: element i of the flattened output is bit
 * (i & 7) of byte i >> 3.
 * Scratch: recurrent layers need (N + 7) / 8 bytes for one row's previous spikes
 * (ff_lif_scratch_bytes); others none.
 */
#ifndef FF_LIF_H
#define FF_LIF_H

#include <stdint.h>

#include "ff_fixed.h"

enum { FF_RESET_SUBTRACT = 0, FF_RESET_ZERO = 1, FF_RESET_NONE = 2 };

typedef struct {
    int32_t positions;        /* rows of N neurons (batch x pixels) */
    int32_t neurons;          /* N */
    int32_t reset;            /* FF_RESET_* */
    int32_t shift_decay;      /* 1: beta[0] and alpha[0] are shifts k; 0: Q15 factors */
    int32_t fires;            /* 0: a readout layer, the output is the membrane */
    int32_t beta_per_neuron;
    int32_t alpha_per_neuron;
    int32_t thr_per_neuron;
    FF_CONST int32_t *beta;
    FF_CONST int32_t *alpha;  /* null: not a synaptic layer */
    FF_CONST int32_t *thr;
    FF_CONST int8_t *w_rec;   /* null: not recurrent; else N x N, row n for neuron n */
} ff_lif_params;

int32_t ff_lif_scratch_bytes(FF_CONST ff_lif_params *p);

/* out: bits (firing) or the membrane type (readout); syn is null for non-synaptic layers. */
void ff_lif_s16(FF_CONST ff_lif_params *p, const int32_t *current, int16_t *syn, int16_t *mem,
                void *out, uint8_t *scratch);
void ff_lif_s32(FF_CONST ff_lif_params *p, const int32_t *current, int32_t *syn, int32_t *mem,
                void *out, uint8_t *scratch);

#endif /* FF_LIF_H */
