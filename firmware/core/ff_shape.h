/* Data-movement kernels: copy, transpose, strided slice, concatenation, split, constant
 * padding. No arithmetic.
 *
 * ff_copy: y[i] = x[i] for nbytes bytes (a Reshape whose output cannot share its input's buffer).
 *
 * ff_transpose_s8/_s16/_s32: a permutation of up to 4 dimensions, given as the output's shape and,
 * for each output dimension, the input's stride (in elements) along the dimension it reads:
 *   y[i0][i1][i2][i3] = x[i0*in_stride[0] + i1*in_stride[1] + i2*in_stride[2] + i3*in_stride[3]]
 * with y contiguous of shape out_dims. The compiler drops size-1 dimensions and merges runs
 * that stay adjacent, so most permutations arrive here with 2 or 3 real dimensions. s32 moves
 * any 4-byte element bit for bit.
 *
 * ff_strided_slice_s8/_s16/_s32: up to 4 dimensions of a strided slice, given as the output's
 * shape, the input's stride (in elements, negative where the slice walks backwards) along each
 * output dimension and the offset of the first element taken:
 *   y[i0][i1][i2][i3] = x[start + i0*in_stride[0] + i1*in_stride[1] + i2*in_stride[2]
 *                         + i3*in_stride[3]]
 * (in_stride[d] = step[d] times the input's stride of that dimension). The compiler drops
 * dimensions of one element (shrunk ones included) and merges runs that stay contiguous.
 *
 * ff_concat: one input's share of a concatenation, bytes agnostic of the element type. Viewing
 * every tensor as [outer][axis * inner] bytes (inner = elements after the axis times their size):
 *   y[o*out_block + offset + k] = x[o*in_block + k]   for o < outer, k < in_block
 * The compiler emits one call per input, with offset the bytes of the inputs before it.
 *
 * ff_split: one output's share of a split, the mirror image of ff_concat. Viewing every tensor
 * as [outer][axis * inner] bytes:
 *   y[o*out_block + k] = x[o*in_block + offset + k]   for o < outer, k < out_block
 * The compiler emits one call per output, with offset the bytes of the outputs before it.
 *
 * ff_pad_s8/_s16: constant padding of up to 4 dimensions, filled with `fill` (the output zero
 * point, i.e. the real value 0):
 *   y[i] = x[i - before] where 0 <= i[d] - before[d] < in_dims[d] for every d, else fill.
 */
#ifndef FF_SHAPE_H
#define FF_SHAPE_H

#include <stdint.h>

#include "ff_fixed.h"

#define FF_SHAPE_MAX_DIMS 4

void ff_copy(int32_t nbytes, const void *x, void *y);

typedef struct {
    int32_t out_dims[FF_SHAPE_MAX_DIMS];
    int32_t in_stride[FF_SHAPE_MAX_DIMS];
} ff_transpose_params;

void ff_transpose_s8(FF_CONST ff_transpose_params *p, const int8_t *x, int8_t *y);
void ff_transpose_s16(FF_CONST ff_transpose_params *p, const int16_t *x, int16_t *y);
void ff_transpose_s32(FF_CONST ff_transpose_params *p, const int32_t *x, int32_t *y);

typedef struct {
    int32_t out_dims[FF_SHAPE_MAX_DIMS];
    int32_t in_stride[FF_SHAPE_MAX_DIMS];  /* may be negative */
    int32_t start;                         /* x offset of y[0], in elements */
} ff_strided_slice_params;

void ff_strided_slice_s8(FF_CONST ff_strided_slice_params *p, const int8_t *x, int8_t *y);
void ff_strided_slice_s16(FF_CONST ff_strided_slice_params *p, const int16_t *x, int16_t *y);
void ff_strided_slice_s32(FF_CONST ff_strided_slice_params *p, const int32_t *x, int32_t *y);

typedef struct {
    int32_t outer;
    int32_t in_block;    /* bytes of this input per outer index */
    int32_t out_block;   /* bytes of the output per outer index */
    int32_t offset;      /* bytes of the earlier inputs within an output block */
} ff_concat_params;

void ff_concat(FF_CONST ff_concat_params *p, const void *x, void *y);

typedef struct {
    int32_t outer;
    int32_t in_block;    /* bytes of the input per outer index */
    int32_t out_block;   /* bytes of this output per outer index */
    int32_t offset;      /* bytes of the earlier outputs within an input block */
} ff_split_params;

void ff_split(FF_CONST ff_split_params *p, const void *x, void *y);

typedef struct {
    int32_t in_dims[FF_SHAPE_MAX_DIMS];
    int32_t out_dims[FF_SHAPE_MAX_DIMS];
    int32_t before[FF_SHAPE_MAX_DIMS];
    int32_t fill;
} ff_pad_params;

void ff_pad_s8(FF_CONST ff_pad_params *p, const int8_t *x, int8_t *y);
void ff_pad_s16(FF_CONST ff_pad_params *p, const int16_t *x, int16_t *y);

#endif /* FF_SHAPE_H */
