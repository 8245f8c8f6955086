/* firmforge: reading packed int4 and int2 weights (the Packed() storage of converter/encoding.py),
 * shared by the s4/s2 dense and convolution kernels and the compressed-weight kernels. */
#ifndef FF_PACKED_H
#define FF_PACKED_H

#include "ff_fixed.h"

/* -- Packed int4 weights (ff_dense.c, ff_conv_s4.c) ---------------------------------------------
 *
 * The Packed() storage of converter/encoding.py (its Python twin), which is TFLite's INT4 layout:
 * element e of a weight tensor (C order over the whole tensor, rows not padded) is the low nibble
 * of byte e / 2 when e is even and the high nibble when e is odd; a nibble is the 4-bit two's
 * complement of a value in [-8, 7]. A nibble n in [0, 15] becomes its value as (n ^ 8) - 8
 * (0..7 stay, 8..15 become -8..-1), so no negative value is ever shifted; the high nibble is
 * the unsigned byte shifted right by 4, which is well defined.
 */
static inline int32_t ff_s4_lo(uint8_t b) {
    return ((int32_t)(b & 0x0F) ^ 8) - 8;
}

static inline int32_t ff_s4_hi(uint8_t b) {
    return ((int32_t)(b >> 4) ^ 8) - 8;
}

/* Element e >= 0 of a packed int4 tensor. */
static inline int32_t ff_s4_at(FF_CONST uint8_t *w, int32_t e) {
    const uint8_t b = w[e >> 1];
    return (e & 1) != 0 ? ff_s4_hi(b) : ff_s4_lo(b);
}

/* acc + sum_{i < n} (x[i] + in_offset) * w4[e0 + i], w4 being the packed int4 tensor w and
 * e0 >= 0 an element index, even or odd. Products are at most 255 * 8 in magnitude. */
static inline int32_t ff_dot_s8_s4(const int8_t *x, FF_CONST uint8_t *w, int32_t e0, int32_t n,
                                   int32_t in_offset, int32_t acc) {
    int32_t i = 0;
    int32_t byte = e0 >> 1;
    if ((e0 & 1) != 0 && n > 0) { /* the first element is a high nibble */
        acc += ((int32_t)x[0] + in_offset) * ff_s4_hi(w[byte]);
        byte++;
        i = 1;
    }
    for (; i + 1 < n; i += 2, byte++) {
        const uint8_t b = w[byte];
        acc += ((int32_t)x[i] + in_offset) * ff_s4_lo(b) +
               ((int32_t)x[i + 1] + in_offset) * ff_s4_hi(b);
    }
    if (i < n) { /* the last element is a low nibble */
        acc += ((int32_t)x[i] + in_offset) * ff_s4_lo(w[byte]);
    }
    return acc;
}

/* -- Packed int2 weights (ff_dense.c, ff_conv_s4.c) ---------------------------------------------
 *
 * The same Packed() storage with 2-bit fields (TFLite's INT2 layout): element e is bits
 * 2 * (e % 4) and up of byte e / 4, the 2-bit two's complement of a value in [-2, 1]
 * (firmforge's PTQ uses [-1, 1]); a field f in [0, 3] becomes (f ^ 2) - 2.
 */
static inline int32_t ff_s2_field(uint8_t b, int32_t k) {
    return ((int32_t)((uint32_t)b >> (2 * k) & 3u) ^ 2) - 2;
}

/* Element e >= 0 of a packed int2 tensor. */
static inline int32_t ff_s2_at(FF_CONST uint8_t *w, int32_t e) {
    return ff_s2_field(w[e >> 2], e & 3);
}

/* acc + sum_{i < n} (x[i] + in_offset) * w2[e0 + i], w2 being the packed int2 tensor w and
 * e0 >= 0 an element index at any position in its byte. Whole bytes four elements at a time. */
static inline int32_t ff_dot_s8_s2(const int8_t *x, FF_CONST uint8_t *w, int32_t e0, int32_t n,
                                   int32_t in_offset, int32_t acc) {
    int32_t i = 0;
    for (; i < n && ((e0 + i) & 3) != 0; i++) { /* up to the next byte boundary */
        acc += ((int32_t)x[i] + in_offset) * ff_s2_at(w, e0 + i);
    }
    for (; i + 3 < n; i += 4) {
        const uint8_t b = w[(e0 + i) >> 2];
        acc += ((int32_t)x[i] + in_offset) * ff_s2_field(b, 0) +
               ((int32_t)x[i + 1] + in_offset) * ff_s2_field(b, 1) +
               ((int32_t)x[i + 2] + in_offset) * ff_s2_field(b, 2) +
               ((int32_t)x[i + 3] + in_offset) * ff_s2_field(b, 3);
    }
    for (; i < n; i++) {
        acc += ((int32_t)x[i] + in_offset) * ff_s2_at(w, e0 + i);
    }
    return acc;
}

#endif /* FF_PACKED_H */
