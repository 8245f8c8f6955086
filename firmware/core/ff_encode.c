/* Rate coding (ff_encode.h). */
#include "ff_encode.h"

void ff_rate_encode_s8_u1(FF_CONST ff_rate_encode_params *p, const int8_t *x, int32_t *state,
                          uint8_t *spikes) {
    uint32_t r = (uint32_t)*state;
    for (int32_t i = 0; i < p->size; i++) {
        r ^= r << 13;
        r ^= r >> 17;
        r ^= r << 5;
        int32_t level = x[i] - p->zero_point;
        level = level < 0 ? 0 : level > 255 ? 255 : level;
        const uint8_t bit = (uint8_t)(1u << (i & 7));
        spikes[i >> 3] = (uint8_t)((int32_t)(r >> 24) < level ? spikes[i >> 3] | bit
                                                                : spikes[i >> 3] & ~bit);
    }
    *state = (int32_t)r;
}
