/* SVDF (TFLite's SVDF), bit for bit as TensorFlow Lite Micro computes it; the math is in
 * converter/ops/svdf.py and every parameter is prepared there (Svdf.requant()).
 *
 * ff_svdf_s8_s16: int8 input, feature weights and output; int16 time weights and state.
 * ff_svdf_s8:     the same with int8 time weights and state.
 *
 * F = filters, M = memory, R = rank, U = F / R units. The state holds, per batch row b and
 * filter f, the row S = state[(b * F + f) * M .. + M - 1], oldest first. Per batch row, for
 * each unit u and each of its filters f = u * R + r (r < R):
 *   d    = sum_i (x[i] + input_offset) * w_feature[f][i]                       (mod 2^32)
 *   S    = S[1 .. M-1] followed by
 *          wrapT(state_zero_point + clamp(ff_mbqm(d, feature_mult, feature_shift), Tmin, Tmax))
 *   t_f  = sum_m w_time[f][m] * (S[m] - state_zero_point)                       (mod 2^32)
 * then
 *   y[u] = clamp(ff_mbqm(bias[u] + sum_r t_{u*R+r}, output_mult, output_shift)
 *                + output_zero_point, act_min, act_max)                  (sum mod 2^32)
 * with T the state type (Tmin..Tmax its range; wrapT keeps the low bits, two's complement) and
 * bias[u] = 0 when bias is null. TFLM computes the same numbers in another order: it shifts
 * the whole state first, writes every filter's newest entry, then reduces (each row is only
 * read by its own filter, and the sums wrap modulo 2^32, so the order does not matter).
 *
 * x is (batch, input_size), y (batch, U); w_feature (F, input_size), w_time (F, M), bias (U).
 * The state lives in the caller's state region and carries over from one call to the next.
 * No scratch: each unit's sum is kept in a register.
 */
#ifndef FF_SVDF_H
#define FF_SVDF_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t batch;
    int32_t input_size;
    int32_t filters;          /* units * rank */
    int32_t memory;
    int32_t rank;
    int32_t input_offset;     /* -x zero point */
    int32_t state_zero_point;
    int32_t output_zero_point;
    int32_t feature_mult;     /* feature sum -> state (TFLM's effective_scale_1) */
    int32_t feature_shift;
    int32_t output_mult;      /* unit sum -> output (effective_scale_2) */
    int32_t output_shift;
    int32_t act_min;
    int32_t act_max;
} ff_svdf_params;

void ff_svdf_s8_s16(FF_CONST ff_svdf_params *p, const int8_t *x, FF_CONST int8_t *w_feature,
                    FF_CONST int16_t *w_time, FF_CONST int32_t *bias, int16_t *state, int8_t *y);
void ff_svdf_s8(FF_CONST ff_svdf_params *p, const int8_t *x, FF_CONST int8_t *w_feature,
                FF_CONST int8_t *w_time, FF_CONST int32_t *bias, int8_t *state, int8_t *y);

#endif /* FF_SVDF_H */
