/* Synaptic currents of a spiking layer (converter/ops/synapse.py has the math): a weighted sum
 * that is never requantized, since it is already in the neuron layer's membrane units.
 *
 *   dense:  I[r][o] = bias[o] + 2^shift sum_k (x[r][k] + input_offset) * w[o][k]
 *   conv:   I[n][y][x][o] = bias[o] + 2^shift sum_{ky,kx,i} (x[...] + input_offset) * w[o][ky][kx][i]
 * (the power of two gives the membrane finer units than one weight; a multiply, as a left
 * shift of a negative value is undefined in C99).
 *
 * x is spikes (u1: element i of the flattened tensor is bit (i & 7) of byte i >> 3, and the
 * input offset is 0) or int8 values (_s8_: input_offset = -zero point; padding adds nothing).
 *
 * ff_dense_u1_s8_s32 is event-driven: it starts every output at its bias and, for each input
 * that spiked, adds that input's weight row; silent inputs cost one bit test, and a byte of
 * eight silent inputs one load. Its weights are stored transposed, w_t[k][o] (one row of O per
 * input), so an event reads one contiguous row. ff_dense_u1_s8_s32_scan computes the same sums
 * output by output over w[o][k], touching every weight (the comparison point; no caller needs
 * it). The sums are exact in int32 for the depths synapse.py allows.
 */
#ifndef FF_SYNAPSE_H
#define FF_SYNAPSE_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t rows;             /* batch rows (the product of the leading dimensions) */
    int32_t inputs;           /* K */
    int32_t outputs;          /* O */
    int32_t input_offset;     /* -x zero point (s8 input); 0 for spikes */
    int32_t scale;            /* 2^shift */
} ff_dense_current_params;

typedef struct {
    int32_t batches, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
    int32_t input_offset;
    int32_t scale;            /* 2^shift */
} ff_conv_current_params;

void ff_dense_u1_s8_s32(FF_CONST ff_dense_current_params *p, const uint8_t *x,
                        FF_CONST int8_t *w_t, FF_CONST int32_t *bias, int32_t *y);
void ff_dense_u1_s8_s32_scan(FF_CONST ff_dense_current_params *p, const uint8_t *x,
                             FF_CONST int8_t *w, FF_CONST int32_t *bias, int32_t *y);
void ff_dense_s8_s8_s32(FF_CONST ff_dense_current_params *p, const int8_t *x,
                        FF_CONST int8_t *w, FF_CONST int32_t *bias, int32_t *y);
void ff_conv2d_u1_s8_s32(FF_CONST ff_conv_current_params *p, const uint8_t *x,
                         FF_CONST int8_t *w, FF_CONST int32_t *bias, int32_t *y);
void ff_conv2d_s8_s8_s32(FF_CONST ff_conv_current_params *p, const int8_t *x,
                         FF_CONST int8_t *w, FF_CONST int32_t *bias, int32_t *y);

#endif /* FF_SYNAPSE_H */
