/* LSTM over a sequence (TFLite UNIDIRECTIONAL_SEQUENCE_LSTM), bit for bit as TensorFlow Lite
 * Micro computes it; the math is in converter/ops/lstm.py, the int16 sigmoid/tanh in
 * converter/ops/lut16.py, and every parameter is prepared there (Lstm.requant()).
 *
 * ff_lstm_s8_s16: int8 activations (input, output state, output), int8 weights, int32 bias,
 *                 int16 cell state.
 * ff_lstm_s16_s8: int16 activations, int8 weights, int64 bias, int16 cell state (16x8).
 *
 * Per batch row b and time step t, per unit j, for the gates k = i, f, g, o:
 *   pre_k = sat16(sat16(rq(bias[k][j] + sum_n (x_t[n] + x_offset) * w_x[k][j][n], k))
 *                 + sat16(rq(sum_n (h[n] + h_offset) * w_h[k][j][n], 4 + k)))
 *   rq(acc, m) = ff_mbqm(acc, gate_mult[m], gate_shift[m])      (s8_s16, int32 acc)
 *              = ff_mbqm64(acc, gate_mult[m], gate_shift[m])    (s16_s8, int64 acc)
 *   i, f, o = sigmoid(pre);  g = tanh(pre)                      Q3.12 -> Q0.15
 *   c[j]  = sat16(sat16(ff_mbqm(f * c[j], forget_mult, forget_shift))
 *                 + sat16(ff_mbqm(i * g, input_mult, input_shift)))
 *   c[j]  = clamp(c[j], -cell_clip, cell_clip)                  when cell_clip >= 0
 *   y_t[j] = clamp(h_zero_point + ff_mbqm(tanh_c(c[j]) * o, output_mult, output_shift),
 *                  activation range)
 * and h = y_t once every unit of the step is done (all units read the previous h). tanh_c
 * rescales its input by (tanh_multiplier, tanh_shift) first (see lut16.py).
 *
 * Layout: x is (batch, steps, input_size) and y (batch, steps, units), or (steps, batch, .)
 * when time_major; h and c are (batch, units) and live in the caller's state region (they carry
 * over from one call to the next). w_x is (4, units, input_size), w_h (4, units, units), bias
 * (4, units), gates in the order i, f, g, o. No scratch: y_t holds the new h until it is copied.
 * The caller's sizes keep every int32 sum exact (checked in Python).
 */
#ifndef FF_LSTM_H
#define FF_LSTM_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t batch;
    int32_t steps;
    int32_t input_size;
    int32_t units;
    int32_t time_major;     /* x and y are (steps, batch, .) */
    int32_t x_offset;       /* -x zero point */
    int32_t h_offset;       /* -h zero point */
    int32_t h_zero_point;
    int32_t gate_mult[8];   /* input FC of gates i, f, g, o, then their recurrent FC */
    int32_t gate_shift[8];
    int32_t forget_mult;    /* f * c -> c */
    int32_t forget_shift;
    int32_t input_mult;     /* i * g -> c */
    int32_t input_shift;
    int32_t output_mult;    /* tanh(c) * o -> h */
    int32_t output_shift;
    int32_t cell_clip;      /* < 0: no clipping (0 clamps c to 0) */
    int32_t tanh_multiplier; /* cell-state tanh input rescale */
    int32_t tanh_shift;
} ff_lstm_params;

void ff_lstm_s8_s16(FF_CONST ff_lstm_params *p, const int8_t *x, FF_CONST int8_t *w_x,
                    FF_CONST int8_t *w_h, FF_CONST int32_t *bias, int8_t *h, int16_t *c,
                    int8_t *y);
void ff_lstm_s16_s8(FF_CONST ff_lstm_params *p, const int16_t *x, FF_CONST int8_t *w_x,
                    FF_CONST int8_t *w_h, FF_CONST int64_t *bias, int16_t *h, int16_t *c,
                    int16_t *y);

#endif /* FF_LSTM_H */
