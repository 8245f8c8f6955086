/* Helpers of the kernels' fast paths, included by ff_fixed.h (so every generated project
 * ships it). Nothing here changes a result: each helper moves or combines bits exactly as its
 * comment says, and every kernel that uses one gives the bytes of its portable code.
 *
 * - ff_copy4a: a 4-byte copy between 4-byte aligned addresses, one word where the compiler can
 *   (every target).
 * - With the Cortex-M DSP extension (ARMv7E-M, ARMv8-M Mainline with DSP: Cortex-M4, M7, M33)
 *   and gcc, FF_DSP is defined, with word loads and stores of int8/int16 data (ff_ld32: an
 *   unaligned-safe copy, one LDR on these cores, and no strict-aliasing question; ff_ld32a and
 *   FF_LDRD for aligned data), and the instructions gcc does not pick by itself (PKHBT/PKHTB,
 *   SXTB16 and SXTAB16 with a rotation, bytewise maximum and clamp by SSUB8/SEL). Lanes are
 *   little-endian, as on every Cortex-M the toolchains target.
 */
#ifndef FF_DSP_H
#define FF_DSP_H

#include <stdint.h>

/* Copies 4 bytes between 4-byte aligned addresses, as one word where the compiler can. */
static inline void ff_copy4a(void *dst, const void *src) {
#if defined(__GNUC__)
    __builtin_memcpy(__builtin_assume_aligned(dst, 4), __builtin_assume_aligned(src, 4), 4);
#else
    for (int i = 0; i < 4; i++) {
        ((unsigned char *)dst)[i] = ((const unsigned char *)src)[i];
    }
#endif
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__) && \
    !defined(__ARM_BIG_ENDIAN)
#define FF_DSP 1
#include <arm_acle.h>

static inline uint32_t ff_ld32(const void *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

static inline void ff_st32(void *p, uint32_t v) {
    __builtin_memcpy(p, &v, 4);
}

/* Two consecutive words at p + off (p 4-byte aligned, off a multiple of 4 below 1024): one
 * LDRD. Volatile, so the compiler neither merges nor hoists it out of the loop that reads
 * it (the operands are constants in flash, never written). */
#define FF_LDRD(lo, hi, p, off) \
    __asm__ volatile("ldrd %0, %1, [%2, %3]" : "=r"(lo), "=r"(hi) : "r"(p), "I"(off))

/* Two consecutive words at p + off of data in RAM (p 4-byte aligned, off a multiple of 4 below
 * 1024): one LDRD. Not volatile: the memory operand tells the compiler which 8 bytes it reads
 * (through a may_alias type, whatever type wrote them), so it stays after their stores. */
typedef struct {
    uint32_t w[2];
} __attribute__((may_alias)) ff_u32x2;
#define FF_LDRD_RAM(lo, hi, p, off)                                                    \
    __asm__("ldrd %0, %1, [%2, %3]"                                                    \
            : "=r"(lo), "=r"(hi)                                                       \
            : "r"(p), "I"(off), "m"(*(const ff_u32x2 *)(const void *)((const char *)(p) + (off))))

/* The same for data known to be 4-byte aligned (scratch), which lets the compiler pair
 * neighbouring words into LDRD/STRD. */
static inline uint32_t ff_ld32a(const void *p) {
    uint32_t v;
    __builtin_memcpy(&v, __builtin_assume_aligned(p, 4), 4);
    return v;
}

static inline void ff_st32a(void *p, uint32_t v) {
    __builtin_memcpy(__builtin_assume_aligned(p, 4), &v, 4);
}

/* [lo16(a), lo16(b)] */
static inline uint32_t ff_pkhbt(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* [hi16(a), hi16(b)] */
static inline uint32_t ff_pkhtb(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
}

/* Four int32 results (each already in [-128, 127]) as the bytes of one word, lane j in byte
 * j (three BFIs), clamped bytewise to [lo, hi] (lo4, hi4: the bounds in every byte) by
 * SSUB8/SEL. */
static inline uint32_t ff_pack4_clamp(int32_t t0, int32_t t1, int32_t t2, int32_t t3,
                                      uint32_t lo4, uint32_t hi4) {
    uint32_t v = (uint32_t)t0, r;
    __asm__("bfi %0, %1, #8, #8" : "+r"(v) : "r"(t1));
    __asm__("bfi %0, %1, #16, #8" : "+r"(v) : "r"(t2));
    __asm__("bfi %0, %1, #24, #8" : "+r"(v) : "r"(t3));
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(v), "r"(lo4) : "cc");
    __asm__("ssub8 %0, %2, %1\n\tsel %0, %1, %2" : "=&r"(v) : "r"(r), "r"(hi4) : "cc");
    return v;
}

/* ff_pack4_clamp in two steps, for loops that clamp only when [lo, hi] is narrower than the
 * int8 range: the four results (each in [-128, 127]) as the bytes of one word (three BFIs)... */
static inline uint32_t ff_pack4(int32_t t0, int32_t t1, int32_t t2, int32_t t3) {
    uint32_t v = (uint32_t)t0;
    __asm__("bfi %0, %1, #8, #8" : "+r"(v) : "r"(t1));
    __asm__("bfi %0, %1, #16, #8" : "+r"(v) : "r"(t2));
    __asm__("bfi %0, %1, #24, #8" : "+r"(v) : "r"(t3));
    return v;
}

/* ... and each byte of v clamped to [lo, hi] (lo4, hi4: the bounds in every byte). */
static inline uint32_t ff_clamp4(uint32_t v, uint32_t lo4, uint32_t hi4) {
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(v), "r"(lo4) : "cc");
    __asm__("ssub8 %0, %2, %1\n\tsel %0, %1, %2" : "=&r"(v) : "r"(r), "r"(hi4) : "cc");
    return v;
}

/* [lo16(o) + sx(byte 1), hi16(o) + sx(byte 3)]: SXTAB16 of the word rotated right by 8. */
static inline uint32_t ff_sxtab16_ror8(uint32_t o, uint32_t a) {
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(o), "r"(a));
    return r;
}

/* The bytewise maximum of two words of four int8 lanes (SSUB8 then SEL). */
static inline uint32_t ff_max4_s8(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}

/* [sx(byte 1), sx(byte 3)]: SXTB16 of the word rotated right by 8. */
static inline uint32_t ff_sxtb16_ror8(uint32_t a) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(a));
    return r;
}

/* SMMLAR: acc + the high word of a*b + 2^31 (GCC 12's ACLE lacks it). */
static inline int32_t ff_smmlar(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
#endif

#endif /* FF_DSP_H */
