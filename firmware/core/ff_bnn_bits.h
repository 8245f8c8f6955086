/* Word-level helpers of the binary and ternary kernels (ff_bnn.c, ff_bnn_dense.c, ff_bnn_mst.c,
 * ff_tnn.c): counting and finding set bits, and the words of a packed b1 row (layout in
 * ff_bnn.h). */
#ifndef FF_BNN_BITS_H
#define FF_BNN_BITS_H

#include <stdint.h>

#define FF_WORD_BITS 32

/* Set bits of a word. A core with a population-count instruction (x86 with POPCNT, RISC-V
 * Zbb) uses it; elsewhere the bits are summed in ever wider fields (SWAR), with the last two
 * steps as shifted adds where a multiply would be a library call (AVR). */
static inline int32_t ff_popcount32(uint32_t v) {
#if defined(__GNUC__) && (defined(__POPCNT__) || defined(__riscv_zbb))
    return (int32_t)__builtin_popcount(v);
#else
    v = v - ((v >> 1) & UINT32_C(0x55555555));
    v = (v & UINT32_C(0x33333333)) + ((v >> 2) & UINT32_C(0x33333333));
    v = (v + (v >> 4)) & UINT32_C(0x0F0F0F0F);
#if defined(__AVR__)
    v += v >> 8;
    v += v >> 16;
    return (int32_t)(v & UINT32_C(0x3F));
#else
    return (int32_t)((uint32_t)(v * UINT32_C(0x01010101)) >> 24); /* the byte sums' total */
#endif
#endif
}

/* The index of the lowest set bit of v != 0: the compiler's builtin (RBIT + CLZ on Cortex-M3
 * and up, CTZ on RISC-V Zbb, a short sequence or library call elsewhere), else a loop.
 * unsigned long has at least 32 bits everywhere, where int has 16 on AVR. */
static inline int32_t ff_ctz32(uint32_t v) {
#if defined(__GNUC__)
    return (int32_t)__builtin_ctzl((unsigned long)v);
#else
    int32_t n = 0;
    while ((v & 1U) == 0) {
        v >>= 1;
        n++;
    }
    return n;
#endif
}

/* Words of a row of n b1 values, and the bits of its last word that hold values. */
static inline int32_t ff_b1_words(int32_t n) {
    return (n + FF_WORD_BITS - 1) / FF_WORD_BITS;
}

static inline uint32_t ff_b1_last_mask(int32_t n) {
    const int32_t r = n % FF_WORD_BITS;
    return r == 0 ? UINT32_C(0xFFFFFFFF) : (((uint32_t)1 << r) - 1U);
}

#endif /* FF_BNN_BITS_H */
