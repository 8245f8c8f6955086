/* Elementwise binary kernels with broadcasting (int8, and int16 ADD, SUB, MAXIMUM and MINIMUM),
 * TFLM's ADD, SUB, MUL, MAXIMUM and MINIMUM arithmetic.
 *
 * Shapes are 4-D (the emitter pads lower ranks with leading 1s). y is contiguous with dims
 * shape[0..3]; element (i0, i1, i2, i3) reads a[sum_k i_k * a_stride[k]] and
 * b[sum_k i_k * b_stride[k]], a stride being 0 along a dimension the operand broadcasts over.
 *
 * ff_add_s8 / ff_sub_s8 (left_shift is 20 for int8; every shift here is <= 0):
 *   wa = ff_mbqm_smaller_than_one((a + a_offset) * 2^left_shift, a_mult, a_shift)
 *   wb = ff_mbqm_smaller_than_one((b + b_offset) * 2^left_shift, b_mult, b_shift)
 *   y  = clamp(ff_mbqm_smaller_than_one(wa +- wb, out_mult, out_shift) + out_offset,
 *              act_min, act_max)
 * ff_add_s16 / ff_sub_s16 (16x8 models): the ff_add_s8 formula on int16 data with left_shift
 *   15, which keeps (x + offset) * 2^15 inside int32 for any int16 x and zero point. (TFLM's ADD
 *   and SUB always take this general path for int16, never the reference's power-of-two-scale
 *   shortcut.)
 * ff_mul_s8:
 *   y  = clamp(ff_mbqm((a + a_offset) * (b + b_offset), mult, shift) + out_offset,
 *              act_min, act_max)
 * (a_offset and b_offset are the negated zero points, out_offset the output zero point.)
 * ff_maximum_s8/_s16, ff_minimum_s8/_s16 (a, b and y share one scale and zero point):
 *   y  = a > b ? a : b,   y = a < b ? a : b     on the raw integers, no requantization
 *
 * The _c variants take one operand from constant memory (flash on AVR): c is operand a when
 * const_first is 1, operand b otherwise, and x is the other one.
 *
 * y may be the same buffer as a full-size (non-broadcast) activation operand: every element is
 * written after the only read of the same index.
 */
#ifndef FF_ELTWISE_H
#define FF_ELTWISE_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t shape[4];     /* output dims, outermost first */
    int32_t a_stride[4];  /* element strides of a per output dim, 0 where a broadcasts */
    int32_t b_stride[4];
    int32_t const_first;  /* _c kernels only: 1 when the constant operand is a */
    int32_t a_offset, b_offset, out_offset;
    int32_t left_shift;
    int32_t a_mult, a_shift;
    int32_t b_mult, b_shift;
    int32_t out_mult, out_shift;
    int32_t act_min, act_max;
} ff_add_s8_params;

/* ff_add_s16 and ff_sub_s16 take the same parameters (left_shift 15). */
typedef ff_add_s8_params ff_add_s16_params;

typedef struct {
    int32_t shape[4];
    int32_t a_stride[4];
    int32_t b_stride[4];
    int32_t const_first;
    int32_t a_offset, b_offset, out_offset;
    int32_t mult, shift;
    int32_t act_min, act_max;
} ff_mul_s8_params;

/* Maximum and minimum move values only: the layout is all they need. */
typedef struct {
    int32_t shape[4];
    int32_t a_stride[4];
    int32_t b_stride[4];
    int32_t const_first;
} ff_minmax_params;

void ff_add_s8(FF_CONST ff_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *y);
void ff_sub_s8(FF_CONST ff_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *y);
void ff_mul_s8(FF_CONST ff_mul_s8_params *p, const int8_t *a, const int8_t *b, int8_t *y);

void ff_add_s8_c(FF_CONST ff_add_s8_params *p, const int8_t *x, FF_CONST int8_t *c, int8_t *y);
void ff_sub_s8_c(FF_CONST ff_add_s8_params *p, const int8_t *x, FF_CONST int8_t *c, int8_t *y);
void ff_mul_s8_c(FF_CONST ff_mul_s8_params *p, const int8_t *x, FF_CONST int8_t *c, int8_t *y);

void ff_add_s16(FF_CONST ff_add_s16_params *p, const int16_t *a, const int16_t *b, int16_t *y);
void ff_add_s16_c(FF_CONST ff_add_s16_params *p, const int16_t *x, FF_CONST int16_t *c,
                  int16_t *y);
void ff_sub_s16(FF_CONST ff_add_s16_params *p, const int16_t *a, const int16_t *b, int16_t *y);
void ff_sub_s16_c(FF_CONST ff_add_s16_params *p, const int16_t *x, FF_CONST int16_t *c,
                  int16_t *y);

void ff_maximum_s8(FF_CONST ff_minmax_params *p, const int8_t *a, const int8_t *b, int8_t *y);
void ff_minimum_s8(FF_CONST ff_minmax_params *p, const int8_t *a, const int8_t *b, int8_t *y);
void ff_maximum_s8_c(FF_CONST ff_minmax_params *p, const int8_t *x, FF_CONST int8_t *c, int8_t *y);
void ff_minimum_s8_c(FF_CONST ff_minmax_params *p, const int8_t *x, FF_CONST int8_t *c, int8_t *y);
void ff_maximum_s16(FF_CONST ff_minmax_params *p, const int16_t *a, const int16_t *b,
                    int16_t *y);
void ff_minimum_s16(FF_CONST ff_minmax_params *p, const int16_t *a, const int16_t *b,
                    int16_t *y);
void ff_maximum_s16_c(FF_CONST ff_minmax_params *p, const int16_t *x, FF_CONST int16_t *c,
                      int16_t *y);
void ff_minimum_s16_c(FF_CONST ff_minmax_params *p, const int16_t *x, FF_CONST int16_t *c,
                      int16_t *y);

#endif /* FF_ELTWISE_H */
