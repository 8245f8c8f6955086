/* The pointwise (1x1, stride 1, unpadded, one group) int8 convolution: a matrix product over
 * pixels, computed in blocks of FF_PW_PIXELS pixels, one pair of output channels at a time, from
 * the constants the converter prepares; the math and the layouts are in ff_conv.h and
 * ff_pairs.h.
 *
 * Each block is first copied into the scratch, so the outputs may overwrite the inputs. The
 * Cortex-M DSP path keeps the block there as int16 (what SXTB16 makes of four input bytes:
 * group g of four channels is the words {x[k][4g], x[k][4g+2]} for the pixels k = 0..3, then
 * {x[k][4g+1], x[k][4g+3]}; the in_c % 4 last channels t follow as int16 at 4 t + k), and
 * accumulates 4 pixels x 1 pair = 8 sums (E and R of each pixel) with SMLAD, two input
 * channels per instruction. The portable path keeps the block as int8, channel-major
 * (x[k][i] at 4 i + k), and accumulates the same 8 sums with 32-bit multiply-adds.
 *
 * The choice between the whole-layer assembly and the general code is the converter's
 * (ff_conv2d_s8_1x1_fast or ff_conv2d_s8_1x1), not a test at run time, so a model links only
 * the code its layers take. */
#include "ff_conv.h"
#include "ff_pairs.h"

/* The Cortex-M DSP path: its assembly needs 14 registers, which an unoptimized build (frame
 * pointer kept) does not leave; such a build takes the portable path. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__OPTIMIZE__)
#include <arm_acle.h>
#define FF_PW_DSP 1
#else
#define FF_PW_DSP 0
#endif

/* Groups of four input channels per chunk (ff_pair_hi's bound). */
#define FF_PW_CHUNK (FF_PAIR_CHUNK / 4)

#if FF_PW_DSP
/* Copies pixels x[0 .. n-1] into the block's slots k0 .. k0 + n - 1 of the scratch as int16
 * (layout above); the other slots up to 3 repeat the last pixel. */
static void pw_copy(const int8_t *x, int32_t in_c, int32_t k0, int32_t n, int8_t *scratch) {
    const int32_t groups = in_c >> 2, tail = in_c & 3;
    int16_t *xt = (int16_t *)(void *)scratch + 16 * groups;
    if (k0 == 0 && n == FF_PW_PIXELS) {
        /* the common case, four pixels at once */
        int32_t *s = (int32_t *)(void *)scratch;
        for (int32_t g = 0; g < groups; g++, x += 4, s += 8) {
            int32_t v0, v1, v2, v3;
            __builtin_memcpy(&v0, x, 4);
            __builtin_memcpy(&v1, x + in_c, 4);
            __builtin_memcpy(&v2, x + 2 * in_c, 4);
            __builtin_memcpy(&v3, x + 3 * in_c, 4);
            s[0] = __sxtb16(v0);
            s[1] = __sxtb16(v1);
            s[2] = __sxtb16(v2);
            s[3] = __sxtb16(v3);
            s[4] = ff_sxtb16_ror8(v0);
            s[5] = ff_sxtb16_ror8(v1);
            s[6] = ff_sxtb16_ror8(v2);
            s[7] = ff_sxtb16_ror8(v3);
        }
        for (int32_t t = 0; t < tail; t++) {
            for (int32_t k = 0; k < FF_PW_PIXELS; k++) {
                xt[4 * t + k] = x[k * in_c + t];
            }
        }
        return;
    }
    for (int32_t k = k0; k < FF_PW_PIXELS; k++) {
        const int8_t *xp = x + (k - k0 < n ? k - k0 : n - 1) * in_c;
        int32_t *s = (int32_t *)(void *)scratch + k;
        for (int32_t g = 0; g < groups; g++, xp += 4, s += 8) {
            int32_t v;
            __builtin_memcpy(&v, xp, 4);
            s[0] = __sxtb16(v);
            s[4] = ff_sxtb16_ror8(v);
        }
        for (int32_t t = 0; t < tail; t++) {
            xt[4 * t + k] = xp[t];
        }
    }
}

/* Moves the block's slots n .. 3 of the scratch to 0 .. 3 - n (n < 4), making room for the
 * next n pixels. */
static void pw_shift(int8_t *scratch, int32_t in_c, int32_t n) {
    int32_t *s = (int32_t *)(void *)scratch;
    int16_t *xt = (int16_t *)(void *)scratch + 16 * (in_c >> 2);
    for (int32_t r = 0; r < 2 * (in_c >> 2); r++, s += 4) {
        for (int32_t k = 0; k + n < FF_PW_PIXELS; k++) {
            s[k] = s[k + n];
        }
    }
    for (int32_t t = 0; t < (in_c & 3); t++, xt += 4) {
        for (int32_t k = 0; k + n < FF_PW_PIXELS; k++) {
            xt[k] = xt[k + n];
        }
    }
}

/* One group of four input channels of one pair over a block: the 8 sums, E and R of each pixel
 * k, advance by SMLAD of a word of packed weights (R) and of its SXTB16 (E) with the scratch
 * word of the same two input channels, first for channels 4g, 4g + 2, then 4g + 1, 4g + 3. */
#define FF_PW_HALF                                                                               \
    "ldr %[we], [%[w]], #4\n\t"                                                                  \
    "ldrd %[xa], %[xb], [%[x]], #8\n\t"                                                          \
    "sxtb16 %[t], %[we]\n\t"                                                                     \
    "smlad %[r0], %[we], %[xa], %[r0]\n\t"                                                       \
    "smlad %[e0], %[t], %[xa], %[e0]\n\t"                                                        \
    "smlad %[r1], %[we], %[xb], %[r1]\n\t"                                                       \
    "smlad %[e1], %[t], %[xb], %[e1]\n\t"                                                        \
    "ldrd %[xa], %[xb], [%[x]], #8\n\t"                                                          \
    "smlad %[r2], %[we], %[xa], %[r2]\n\t"                                                       \
    "smlad %[e2], %[t], %[xa], %[e2]\n\t"                                                        \
    "smlad %[r3], %[we], %[xb], %[r3]\n\t"                                                       \
    "smlad %[e3], %[t], %[xb], %[e3]\n\t"
#define FF_PW_GROUP FF_PW_HALF FF_PW_HALF

/* n > 0 groups of one pair over a block (FF_PW_GROUP). Written in assembly because GCC spills
 * this loop: its 8 sums, 2 pointers and 4 temporaries take every register (the end pointer is
 * read from memory). */
#define FF_PW_MAC_LOOP(x, wp, end, e0, e1, e2, e3, r0, r1, r2, r3)                              \
    do {                                                                                         \
        int32_t we_, t_, xa_, xb_;                                                               \
        __asm__ volatile("1:\n\t" FF_PW_GROUP                                                   \
                         "ldr %[t], %[end]\n\t"                                                  \
                         "cmp %[x], %[t]\n\t"                                                    \
                         "bne 1b"                                                                \
                         : [e0] "+r"(e0), [e1] "+r"(e1), [e2] "+r"(e2), [e3] "+r"(e3),           \
                           [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [r3] "+r"(r3),           \
                           [x] "+r"(x), [w] "+r"(wp), [we] "=&r"(we_), [t] "=&r"(t_),            \
                           [xa] "=&r"(xa_), [xb] "=&r"(xb_)                                      \
                         : [end] "m"(end)                                                        \
                         : "cc", "memory");                                                      \
    } while (0)

/* The 8 sums of one pair over a block: s[k] = bias0 + E of pixel k (channel 2j, complete),
 * s[4 + k] = the sum of channel 2j + 1 without its bias, R - E turned into it after each chunk
 * of groups (and after the tail). */
static void pw_sums(const int8_t *scratch, FF_CONST int16_t *wp, int32_t groups, int32_t tail,
                    int32_t bias0, int32_t s[8]) {
    const int32_t *x = (const int32_t *)(const void *)scratch;
    const int16_t *xt = (const int16_t *)(const void *)scratch + 16 * groups;
    int32_t e0, e1, e2, e3, r0, r1, r2, r3;
    e0 = e1 = e2 = e3 = r0 = r1 = r2 = r3 = bias0;
    s[4] = s[5] = s[6] = s[7] = 0;
    while (groups > 0) {
        const int32_t chunk = groups > FF_PW_CHUNK ? FF_PW_CHUNK : groups;
        const int32_t *const end = x + 8 * chunk;
        groups -= chunk;
        FF_PW_MAC_LOOP(x, wp, end, e0, e1, e2, e3, r0, r1, r2, r3);
        if (groups > 0) {
            s[4] = ff_add32(s[4], ff_pair_hi((uint32_t)r0, (uint32_t)e0));
            s[5] = ff_add32(s[5], ff_pair_hi((uint32_t)r1, (uint32_t)e1));
            s[6] = ff_add32(s[6], ff_pair_hi((uint32_t)r2, (uint32_t)e2));
            s[7] = ff_add32(s[7], ff_pair_hi((uint32_t)r3, (uint32_t)e3));
            r0 = e0;
            r1 = e1;
            r2 = e2;
            r3 = e3;
        }
    }
    for (int32_t t = 0; t < tail; t++, xt += 4) {
        const int32_t hv = wp[t], lo8 = ff_lo_s8(hv);
        e0 = __smlabb(lo8, xt[0], e0);
        r0 = __smlabb(hv, xt[0], r0);
        e1 = __smlabb(lo8, xt[1], e1);
        r1 = __smlabb(hv, xt[1], r1);
        e2 = __smlabb(lo8, xt[2], e2);
        r2 = __smlabb(hv, xt[2], r2);
        e3 = __smlabb(lo8, xt[3], e3);
        r3 = __smlabb(hv, xt[3], r3);
    }
    s[0] = e0;
    s[1] = e1;
    s[2] = e2;
    s[3] = e3;
    s[4] = ff_add32(s[4], ff_pair_hi((uint32_t)r0, (uint32_t)e0));
    s[5] = ff_add32(s[5], ff_pair_hi((uint32_t)r1, (uint32_t)e1));
    s[6] = ff_add32(s[6], ff_pair_hi((uint32_t)r2, (uint32_t)e2));
    s[7] = ff_add32(s[7], ff_pair_hi((uint32_t)r3, (uint32_t)e3));
}

#else
/* Copies pixels x[0 .. n-1] of a block into the scratch, channel-major (x[k][i] at 4 i + k; a
 * short block repeats its last pixel). */
static void pw_copy(const int8_t *x, int32_t in_c, int32_t k0, int32_t n, int8_t *scratch) {
    (void)k0;
    for (int32_t k = 0; k < FF_PW_PIXELS; k++) {
        const int8_t *xp = x + (k < n ? k : n - 1) * in_c;
        for (int32_t i = 0; i < in_c; i++) {
            scratch[4 * i + k] = xp[i];
        }
    }
}

/* The low byte of packed weight s of wp (w[2j] of its pair): read as a byte where the byte
 * order allows it (one load instead of a sign extension on RISC-V). */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FF_PW_LO(wp, s) ((int32_t)((FF_CONST int8_t *)(wp))[2 * (s)])
#else
#define FF_PW_LO(wp, s) ff_lo_s8((wp)[s])
#endif

/* Packed weight s of wp times input channel d of the 4 pixels (scratch row xs + 4 d) into the
 * 8 chunk sums. */
#define FF_PW_MAC(s, d)                                                                          \
    do {                                                                                         \
        const int32_t hv_ = wp[s], lo_ = FF_PW_LO(wp, s);                                        \
        const int8_t *const xv_ = xs + 4 * (d);                                                  \
        e0 += lo_ * xv_[0];                                                                      \
        r0 += hv_ * xv_[0];                                                                      \
        e1 += lo_ * xv_[1];                                                                      \
        r1 += hv_ * xv_[1];                                                                      \
        e2 += lo_ * xv_[2];                                                                      \
        r2 += hv_ * xv_[2];                                                                      \
        e3 += lo_ * xv_[3];                                                                      \
        r3 += hv_ * xv_[3];                                                                      \
    } while (0)

/* The same 8 sums as the DSP path (modulo 2^32): s[k] = bias0 + E of pixel k, s[4 + k] = the
 * second channel's sum without its bias. A group's packed weights are input channels
 * 4g, 4g + 2, 4g + 1, 4g + 3. The sums of a chunk start at 0, so they stay inside int32
 * (|E| <= 511 * 2^14, |R| <= 511 * 2^22 < 2^31), and are folded into s after each chunk. */
static void pw_sums(const int8_t *scratch, FF_CONST int16_t *wp, int32_t groups, int32_t tail,
                    int32_t bias0, int32_t s[8]) {
    const int8_t *xs = scratch;
    s[0] = s[1] = s[2] = s[3] = bias0;
    s[4] = s[5] = s[6] = s[7] = 0;
    do {
        const int32_t n = groups > FF_PW_CHUNK ? FF_PW_CHUNK : groups;
        FF_CONST int16_t *const wend = wp + 4 * n;
        int32_t e0 = 0, e1 = 0, e2 = 0, e3 = 0, r0 = 0, r1 = 0, r2 = 0, r3 = 0;
        groups -= n;
        for (; wp != wend; wp += 4, xs += 16) {
            FF_PW_MAC(0, 0);
            FF_SCHED_BARRIER();
            FF_PW_MAC(1, 2);
            FF_SCHED_BARRIER();
            FF_PW_MAC(2, 1);
            FF_SCHED_BARRIER();
            FF_PW_MAC(3, 3);
        }
        if (groups == 0) {
            for (int32_t t = 0; t < tail; t++) {
                FF_PW_MAC(t, t);
            }
        }
        s[0] = ff_add32(s[0], e0);
        s[1] = ff_add32(s[1], e1);
        s[2] = ff_add32(s[2], e2);
        s[3] = ff_add32(s[3], e3);
        s[4] = ff_add32(s[4], ff_asr32(r0 - e0, 8));
        s[5] = ff_add32(s[5], ff_asr32(r1 - e1, 8));
        s[6] = ff_add32(s[6], ff_asr32(r2 - e2, 8));
        s[7] = ff_add32(s[7], ff_asr32(r3 - e3, 8));
    } while (groups > 0);
}
#endif

#if FF_PW_DSP
/* One output value in place: v = clamp(ff_mbqm(v, mult, -right) + zp, -128, 127) for
 * mult in [2^30, 2^31) and right >= 2 (or v = 0), from m2 = 2 mult - 2^32 and k = 2^(32 - right)
 * (ff_requant_pre):
 *   SMMLAR v, v, m2, v    v + ((v * m2 + 2^31) >> 32) = ff_srdhm(v, mult)
 *   v + (v >> 31)         v - 1 when negative; then
 *   SMMLAR v, v, k, zp    zp + ((v * 2^(32-right) + 2^31) >> 32)
 *                         = zp + floor((v + 2^(right-1)) / 2^right) = zp + ff_rdbpot(v, right)
 * and SSAT to 8 bits. */
#define FF_PW_RQ(v, m2, k, zp)                                                                   \
    "smmlar %[" v "], %[" v "], %[" m2 "], %[" v "]\n\t"                                         \
    "add %[" v "], %[" v "], %[" v "], asr #31\n\t"                                              \
    "smmlar %[" v "], %[" v "], %[" k "], %[" zp "]\n\t"                                         \
    "ssat %[" v "], #8, %[" v "]\n\t"

/* Every pair of a full block (4 pixels) in one piece of assembly, ff_conv2d_s8_1x1_fast's whole
 * work, for the layers that need nothing else (the converter checks it): out_c even, in_c a
 * multiple of 4 up to FF_PAIR_CHUNK (one chunk, no tail), the full output range and rshift2 (right
 * shifts >= 2, no left shift). Per pair: the 8 sums start at bias'[2j]; the group loop; the second
 * channel's sums from R - E plus its bias; 8 requantized bytes. The loop state lives in memory
 * because the group loop needs every register; the weights of consecutive pairs follow each other,
 * so w only advances. */
static void pw_block_dsp(const int8_t *scratch, FF_CONST int16_t *w, FF_CONST int32_t *q,
                         int8_t *y, int32_t groups, int32_t out_c, int32_t out_offset) {
    const int32_t *const xbase = (const int32_t *)(const void *)scratch;
    const int32_t *const end = xbase + 8 * groups;
    FF_CONST int32_t *const qend = q + 4 * out_c;
    FF_CONST int16_t *wm = w;
    const int32_t g3 = groups & 3;
    int32_t e0, e1, e2, e3, r0, r1, r2, r3, x, wr, we, t, xa, xb;
    __asm__ volatile(
        "2:\n\t"
        "ldr %[t], %[q]\n\t"
        "ldr %[e0], [%[t]]\n\t"
        "mov %[e1], %[e0]\n\t"
        "mov %[e2], %[e0]\n\t"
        "mov %[e3], %[e0]\n\t"
        "mov %[r0], %[e0]\n\t"
        "mov %[r1], %[e0]\n\t"
        "mov %[r2], %[e0]\n\t"
        "mov %[r3], %[e0]\n\t"
        "ldr %[x], %[xbase]\n\t"
        "ldr %[w], %[wm]\n\t"
        /* the group loop, four groups per pass: entered part-way for groups % 4 = 1, 2, 3 */
        "ldr %[t], %[g3]\n\t"
        "cmp %[t], #0\n\t"
        "beq 1f\n\t"
        "cmp %[t], #2\n\t"
        "beq 12f\n\t"
        "bhi 13f\n\t"
        "b 11f\n\t"
        "1:\n\t" FF_PW_GROUP "13:\n\t" FF_PW_GROUP "12:\n\t" FF_PW_GROUP "11:\n\t" FF_PW_GROUP
        "ldr %[t], %[end]\n\t"
        "cmp %[x], %[t]\n\t"
        "bne 1b\n\t"
        "str %[w], %[wm]\n\t"
        /* second channel: h = bias'[2j + 1] + (R - E) / 256 */
        "ldr %[t], %[q]\n\t"
        "ldr %[t], [%[t], #16]\n\t"
        "sub %[r0], %[r0], %[e0]\n\t"
        "add %[r0], %[t], %[r0], asr #8\n\t"
        "sub %[r1], %[r1], %[e1]\n\t"
        "add %[r1], %[t], %[r1], asr #8\n\t"
        "sub %[r2], %[r2], %[e2]\n\t"
        "add %[r2], %[t], %[r2], asr #8\n\t"
        "sub %[r3], %[r3], %[e3]\n\t"
        "add %[r3], %[t], %[r3], asr #8\n\t"
        /* channel 2j: m2 = x, k = we, zp = xb, y = w, stride = t */
        "ldr %[xa], %[q]\n\t"
        "ldrd %[x], %[we], [%[xa], #4]\n\t"
        "ldr %[xb], %[zp]\n\t"
        "ldr %[w], %[y]\n\t"
        "ldr %[t], %[s]\n\t"
        FF_PW_RQ("e0", "x", "we", "xb") FF_PW_RQ("e1", "x", "we", "xb")
        FF_PW_RQ("e2", "x", "we", "xb") FF_PW_RQ("e3", "x", "we", "xb")
        "strb %[e0], [%[w]]\n\t"
        "strb %[e1], [%[w], %[t]]\n\t"
        "add %[e1], %[w], %[t], lsl #1\n\t"
        "strb %[e2], [%[e1]]\n\t"
        "strb %[e3], [%[e1], %[t]]\n\t"
        "add %[w], %[w], #1\n\t"
        /* channel 2j + 1, at y + 1 (now w) */
        "ldrd %[x], %[we], [%[xa], #20]\n\t"
        FF_PW_RQ("r0", "x", "we", "xb") FF_PW_RQ("r1", "x", "we", "xb")
        FF_PW_RQ("r2", "x", "we", "xb") FF_PW_RQ("r3", "x", "we", "xb")
        "strb %[r0], [%[w]]\n\t"
        "strb %[r1], [%[w], %[t]]\n\t"
        "add %[e1], %[w], %[t], lsl #1\n\t"
        "strb %[r2], [%[e1]]\n\t"
        "strb %[r3], [%[e1], %[t]]\n\t"
        "add %[w], %[w], #1\n\t"
        "str %[w], %[y]\n\t"
        /* next pair */
        "ldr %[t], %[q]\n\t"
        "add %[t], %[t], #32\n\t"
        "str %[t], %[q]\n\t"
        "ldr %[xa], %[qend]\n\t"
        "cmp %[t], %[xa]\n\t"
        "bne 2b"
        : [e0] "=&r"(e0), [e1] "=&r"(e1), [e2] "=&r"(e2), [e3] "=&r"(e3), [r0] "=&r"(r0),
          [r1] "=&r"(r1), [r2] "=&r"(r2), [r3] "=&r"(r3), [x] "=&r"(x), [w] "=&r"(wr),
          [we] "=&r"(we), [t] "=&r"(t), [xa] "=&r"(xa), [xb] "=&r"(xb), [q] "+m"(q),
          [y] "+m"(y), [wm] "+m"(wm)
        : [xbase] "m"(xbase), [end] "m"(end), [qend] "m"(qend), [s] "m"(out_c),
          [zp] "m"(out_offset), [g3] "m"(g3)
        : "cc", "memory");
}
#endif

/* The outputs of one pair over a block of n pixels from its sums s (pw_sums): channel 2j at
 * y[k * stride], and, when `two`, channel 2j + 1 at y[k * stride + 1] (its bias from q[4]). */
static void pw_out(const int32_t *s, FF_CONST int32_t *q, int two, int8_t *y, int32_t stride,
                   int32_t n, int32_t out_offset, int32_t lo, int32_t hi, int narrow) {
    for (int32_t c = 0; c <= two; c++, s += 4, q += 4, y++) {
        const int32_t bias = c ? q[0] : 0; /* the first channel's is in its sums already */
        int8_t *yo = y;
        for (int32_t k = 0; k < n; k++, yo += stride) {
            *yo = ff_requant_pre(ff_add32(s[k], bias), q[1], q[2], q[3], out_offset, lo, hi,
                                 narrow);
        }
    }
}

void ff_conv2d_s8_1x1(FF_CONST ff_conv2d_s8_1x1_params *p, const int8_t *x, FF_CONST int16_t *w,
                      FF_CONST int32_t *rec, int8_t *y, int8_t *scratch) {
    const int32_t in_c = p->in_c, out_c = p->out_c;
    const int32_t groups = in_c >> 2, tail = in_c & 3, wstride = (in_c + 1) & ~1;
    const int32_t out_offset = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int narrow = lo > -128 || hi < 127;
    for (int32_t px = 0; px < p->pixels; px += FF_PW_PIXELS) {
        const int32_t n = p->pixels - px < FF_PW_PIXELS ? p->pixels - px : FF_PW_PIXELS;
        int8_t *yb = y + px * out_c;
        /* The block's input is copied first, so y may overwrite x (in place). */
        pw_copy(x + px * in_c, in_c, 0, n, scratch);
        FF_CONST int16_t *wp = w;
        FF_CONST int32_t *q = rec;
        for (int32_t o = 0; o < out_c; o += 2, wp += wstride, q += 8) {
            int32_t sums[8];
            pw_sums(scratch, wp, groups, tail, q[0], sums);
            pw_out(sums, q, o + 1 < out_c, yb + o, out_c, n, out_offset, lo, hi, narrow);
        }
    }
}

void ff_conv2d_s8_1x1_fast(FF_CONST ff_conv2d_s8_1x1_params *p, const int8_t *x,
                           FF_CONST int16_t *w, FF_CONST int32_t *rec, int8_t *y,
                           int8_t *scratch) {
#if FF_PW_DSP
    const int32_t in_c = p->in_c, out_c = p->out_c;
    for (int32_t px = 0; px < p->pixels; px += FF_PW_PIXELS) {
        const int32_t n = p->pixels - px < FF_PW_PIXELS ? p->pixels - px : FF_PW_PIXELS;
        /* A short last block takes the previous block's last pixels, still in the scratch
         * (their inputs may be overwritten already), and writes their outputs again. */
        if (n < FF_PW_PIXELS) {
            pw_shift(scratch, in_c, n);
        }
        pw_copy(x + px * in_c, in_c, FF_PW_PIXELS - n, n, scratch);
        pw_block_dsp(scratch, w, rec, y + (px - (FF_PW_PIXELS - n)) * out_c, in_c >> 2, out_c,
                     p->out_offset);
    }
#else
    ff_conv2d_s8_1x1(p, x, w, rec, y, scratch);
#endif
}
