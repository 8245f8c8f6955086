/* Pooling kernels (NHWC, int8 and int16), TFLM's integer semantics.
 *
 * x is [batches][in_h][in_w][c], y is [batches][out_h][out_w][c]. The window of output pixel
 * (oy, ox) starts at (oy*stride_h - pad_top, ox*stride_w - pad_left), spans k_h x k_w, and is
 * clipped to the input: padding is never read, and the window always covers at least one element
 * (the IR requires padding < kernel). For each channel, over the n covered elements:
 *
 *   ff_avgpool2d_s8/_s16: s = sum x;  y = clamp(s > 0 ? (s + n/2) / n : (s - n/2) / n,
 *                                                 act_min, act_max)
 *                         with C's truncating division, i.e. the mean rounded half away from 0:
 *                         sign(s) * floor((|s| + n/2) / n) with n/2 = floor(n / 2).
 *   ff_maxpool2d_s8/_s16/_s32: y = clamp(max x, act_min, act_max) (s32: a spiking layer's
 *   current, per-channel scales and no clamp)
 *
 * Input and output share quantization, so no requantization happens.
 * ff_avgpool2d_s8_fast: ff_avgpool2d_s8 for layers the converter found to have c % 4 == 0 and
 * windows of at most 255 elements, which the Cortex-M DSP path sums four channels at a time in
 * 16-bit lanes without widening; on DSP cores it is that path alone, elsewhere the same as
 * ff_avgpool2d_s8.
 *
 * No division. The converter lists the window counts n_min..n_max the geometry produces and
 * prepares for each n the pair recip[2(n - n_min)] = m, recip[2(n - n_min) + 1] = c with
 *   c = ceil(log2 n),  m = ceil(2^(31+c) / n)       (so 2^30 < m <= 2^31: a uint32)
 * and the kernel computes floor(t / n), t = |s| + n/2, as (high word of 2t * m) >> c, i.e.
 * floor(t * m / 2^(31+c)). Proof that this is exact for every t that can occur: write
 * m * n = 2^(31+c) + e with 0 <= e < n, and t = q * n + r with 0 <= r < n. Then
 *   t * m / 2^(31+c) = t / n + t * e / (n * 2^(31+c)) = q + (r + t * e / 2^(31+c)) / n,
 * and t * e / 2^(31+c) < t * n / 2^(31+c) <= t / 2^31 < 1 because n <= 2^c and t < 2^31: every
 * |s| is at most 2^15 * n (int16; 2^7 * n for int8), so t <= 32768.5 * n < 2^31 for the
 * n <= 65534 the converter allows. Hence r + t * e / 2^(31+c) < n and the floor is q. (2t
 * < 2^32 fits the uint32 operand.) The Python twin, targets/c/emit_pool.py, builds the table.
 */
#ifndef FF_POOL_H
#define FF_POOL_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, c;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
    int32_t n_min;                /* average pooling: the smallest window count */
    FF_CONST uint32_t *recip;     /* average pooling: (m, c) for n = n_min, n_min + 1, ... */
} ff_pool2d_params;

void ff_avgpool2d_s8(FF_CONST ff_pool2d_params *p, const int8_t *x, int8_t *y);
void ff_avgpool2d_s8_fast(FF_CONST ff_pool2d_params *p, const int8_t *x, int8_t *y);
void ff_maxpool2d_s8(FF_CONST ff_pool2d_params *p, const int8_t *x, int8_t *y);
void ff_avgpool2d_s16(FF_CONST ff_pool2d_params *p, const int16_t *x, int16_t *y);
void ff_maxpool2d_s16(FF_CONST ff_pool2d_params *p, const int16_t *x, int16_t *y);
void ff_maxpool2d_s32(FF_CONST ff_pool2d_params *p, const int32_t *x, int32_t *y);

#endif /* FF_POOL_H */
