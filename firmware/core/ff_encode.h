/* Rate coding on device (converter/ops/encode.py has the math): per step, for each input
 * element i in order,
 *   r = xorshift32(r)                               r ^= r << 13; r ^= r >> 17; r ^= r << 5
 *   spike_i = (r >> 24) < clamp(x[i] - zero_point, 0, 255)
 * with r (uint32) in the caller's state region, RATE_SEED after a reset. Spikes are bits:
 * element i is bit (i & 7) of byte i >> 3.
 */
#ifndef FF_ENCODE_H
#define FF_ENCODE_H

#include <stdint.h>

#include "ff_fixed.h"

typedef struct {
    int32_t size;             /* elements of one step */
    int32_t zero_point;
} ff_rate_encode_params;

void ff_rate_encode_s8_u1(FF_CONST ff_rate_encode_params *p, const int8_t *x, int32_t *state,
                          uint8_t *spikes);

#endif /* FF_ENCODE_H */
