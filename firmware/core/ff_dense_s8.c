/* ff_dense_s8, the int8 fully connected layer, from the constants the converter prepares; the
 * math and the layout are in ff_dense.h and ff_pairs.h.
 *
 * Each row is a matrix-vector product: every weight is used once, so what counts is the work per
 * packed weight. A block of FF_DENSE_PAIRS pairs (8 output channels) keeps its 8 sums, E and R of
 * each pair, in registers for the whole row; on Cortex-M DSP cores the four input bytes of a
 * group become two halfword pairs (SXTB16, once for the block) and each word of packed weights
 * takes two SMLAD (R with the word, E with its SXTB16). Pairs after the last full block go one
 * at a time. The blocks' assembly is ff_dense_s8_fast's, for the layers the converter found it
 * computes (no run-time test): ff_dense_s8 is the portable block code, on DSP cores too. */
#include "ff_dense.h"
#include "ff_pairs.h"

/* The Cortex-M DSP path: its assembly needs 14 registers, which an unoptimized build (frame
 * pointer kept) does not leave; such a build takes the portable path. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__OPTIMIZE__)
#define FF_FC_DSP 1
#else
#define FF_FC_DSP 0
#endif

/* Groups of four inputs per chunk (ff_pair_hi's bound). */
#define FF_FC_CHUNK (FF_PAIR_CHUNK / 4)

/* y[c] for the channels c < n of the records q from their sums s (bias included). */
static void fc_out(const int32_t *s, FF_CONST int32_t *q, int32_t n, int8_t *y,
                   int32_t out_offset, int32_t lo, int32_t hi, int narrow) {
    for (int32_t c = 0; c < n; c++, q += 4) {
        y[c] = ff_requant_pre(s[c], q[1], q[2], q[3], out_offset, lo, hi, narrow);
    }
}

#if FF_FC_DSP
/* One pair of the block: R += the packed words we (inputs 4g, 4g + 2) and wo (4g + 1, 4g + 3)
 * times the input halfword pairs xe and xo, E += their SXTB16 (in place) times the same. */
#define FF_FC_PAIR(e, r)                                                                         \
    "ldrd %[we], %[wo], [%[w]], #8\n\t"                                                          \
    "smlad %[" r "], %[we], %[xe], %[" r "]\n\t"                                                 \
    "smlad %[" r "], %[wo], %[xo], %[" r "]\n\t"                                                 \
    "sxtb16 %[we], %[we]\n\t"                                                                    \
    "sxtb16 %[wo], %[wo]\n\t"                                                                    \
    "smlad %[" e "], %[we], %[xe], %[" e "]\n\t"                                                 \
    "smlad %[" e "], %[wo], %[xo], %[" e "]\n\t"

/* One output of the block in place: the record of channel c (at q + 16 c; q in x) gives m2 (in
 * we) and k (in wo), then v = clamp(ff_mbqm(v, ...) + zp, -128, 127) as in ff_conv_1x1.c's
 * FF_PW_RQ (rshift2; zp in xe), stored at y[c] (y in w). */
#define FF_FC_RQ(v, c)                                                                           \
    "ldrd %[we], %[wo], [%[x], #16 * " #c " + 4]\n\t"                                            \
    "smmlar %[" v "], %[" v "], %[we], %[" v "]\n\t"                                             \
    "add %[" v "], %[" v "], %[" v "], asr #31\n\t"                                              \
    "smmlar %[" v "], %[" v "], %[wo], %[xe]\n\t"                                                \
    "ssat %[" v "], #8, %[" v "]\n\t"                                                            \
    "strb %[" v "], [%[w], #" #c "]\n\t"

/* Groups of four inputs per chunk of the assembly block: a multiple of 4, so that every chunk
 * but the last runs the four-group loop body whole. */
#define FF_FC_CHUNK4 (FF_FC_CHUNK & ~3)

/* One group of four inputs for the block: their bytes as the halfword pairs {x[4g], x[4g + 2]}
 * (xe) and {x[4g + 1], x[4g + 3]} (xo), then each pair. */
#define FF_FC_GROUP                                                                              \
    "ldr %[xo], [%[x]], #4\n\t"                                                                  \
    "sxtb16 %[xe], %[xo]\n\t"                                                                    \
    "sxtb16 %[xo], %[xo], ror #8\n\t" FF_FC_PAIR("e0", "r0") FF_FC_PAIR("e1", "r1")              \
        FF_FC_PAIR("e2", "r2") FF_FC_PAIR("e3", "r3")

/* All blocks of one row (8 output channels each) in one piece of assembly (ff_dense_s8_fast), for
 * layers whose output range is the full int8 range, in % 4 == 0 and rshift2. Per block: E = R =
 * bias'[2j] for each pair and h[j] = bias'[2j + 1]; per chunk of at most FF_FC_CHUNK4 groups, the
 * group loop (four groups per pass, entered part-way for a count that is not a multiple of 4), then
 * R = h + (R - E) / 256 and, if another chunk follows, h = R and R = E; then the 8 outputs. The
 * loop state lives in memory because the group loop needs every register. */
static void fc_row_dsp(const int8_t *x, FF_CONST int16_t **wp, int32_t groups,
                       FF_CONST int32_t *q, int32_t blocks, int8_t *y, int32_t out_offset) {
    const int8_t *const xend = x + 4 * groups;
    FF_CONST int32_t *const qend = q + 32 * blocks;
    FF_CONST int16_t *wm = *wp;
    const int8_t *cend = x;
    int32_t h[FF_DENSE_PAIRS];
    int32_t *const hp = h;
    int32_t e0, e1, e2, e3, r0, r1, r2, r3, xr, wr, xe, xo, we, wo;
    __asm__ volatile(
        "5:\n\t" /* block: sums from the biases */
        "ldr %[xe], %[q]\n\t"
        "ldr %[xo], %[hp]\n\t"
        "ldr %[r0], [%[xe], #16]\n\t"
        "ldr %[r1], [%[xe], #48]\n\t"
        "strd %[r0], %[r1], [%[xo]]\n\t"
        "ldr %[r2], [%[xe], #80]\n\t"
        "ldr %[r3], [%[xe], #112]\n\t"
        "strd %[r2], %[r3], [%[xo], #8]\n\t"
        "ldr %[e0], [%[xe]]\n\t"
        "ldr %[e1], [%[xe], #32]\n\t"
        "ldr %[e2], [%[xe], #64]\n\t"
        "ldr %[e3], [%[xe], #96]\n\t"
        "mov %[r0], %[e0]\n\t"
        "mov %[r1], %[e1]\n\t"
        "mov %[r2], %[e2]\n\t"
        "mov %[r3], %[e3]\n\t"
        "ldr %[x], %[xm]\n\t"
        "ldr %[w], %[wm]\n\t"
        "4:\n\t" /* chunk: cend = min(xend, x + 4 * FF_FC_CHUNK4) */
        "ldr %[we], %[xend]\n\t"
        "sub %[wo], %[we], %[x]\n\t"
        "cmp %[wo], %[chunk]\n\t"
        "it gt\n\t"
        "addgt %[we], %[x], %[chunk]\n\t"
        "str %[we], %[cend]\n\t"
        "sub %[wo], %[we], %[x]\n\t"
        "ubfx %[wo], %[wo], #2, #2\n\t" /* the chunk's groups % 4 */
        "cmp %[wo], #0\n\t"
        "beq 1f\n\t"
        "cmp %[wo], #2\n\t"
        "beq 12f\n\t"
        "bhi 13f\n\t"
        "b 11f\n\t"
        "1:\n\t" FF_FC_GROUP "13:\n\t" FF_FC_GROUP "12:\n\t" FF_FC_GROUP "11:\n\t" FF_FC_GROUP
        "ldr %[we], %[cend]\n\t"
        "cmp %[x], %[we]\n\t"
        "bne 1b\n\t"
        /* end of a chunk: R = h + (R - E) / 256 */
        "ldr %[xe], %[hp]\n\t"
        "ldrd %[we], %[wo], [%[xe]]\n\t"
        "sub %[r0], %[r0], %[e0]\n\t"
        "add %[r0], %[we], %[r0], asr #8\n\t"
        "sub %[r1], %[r1], %[e1]\n\t"
        "add %[r1], %[wo], %[r1], asr #8\n\t"
        "ldrd %[we], %[wo], [%[xe], #8]\n\t"
        "sub %[r2], %[r2], %[e2]\n\t"
        "add %[r2], %[we], %[r2], asr #8\n\t"
        "sub %[r3], %[r3], %[e3]\n\t"
        "add %[r3], %[wo], %[r3], asr #8\n\t"
        "ldr %[we], %[xend]\n\t"
        "cmp %[x], %[we]\n\t"
        "beq 6f\n\t"
        /* another chunk follows: h = R, R = E */
        "strd %[r0], %[r1], [%[xe]]\n\t"
        "strd %[r2], %[r3], [%[xe], #8]\n\t"
        "mov %[r0], %[e0]\n\t"
        "mov %[r1], %[e1]\n\t"
        "mov %[r2], %[e2]\n\t"
        "mov %[r3], %[e3]\n\t"
        "b 4b\n\t"
        "6:\n\t" /* the 8 outputs: E of each pair, and h (in R) */
        "str %[w], %[wm]\n\t"
        "ldr %[x], %[q]\n\t"
        "ldr %[w], %[y]\n\t"
        "ldr %[xe], %[zp]\n\t"
        FF_FC_RQ("e0", 0) FF_FC_RQ("r0", 1) FF_FC_RQ("e1", 2) FF_FC_RQ("r1", 3)
        FF_FC_RQ("e2", 4) FF_FC_RQ("r2", 5) FF_FC_RQ("e3", 6) FF_FC_RQ("r3", 7)
        "add %[w], %[w], #8\n\t"
        "str %[w], %[y]\n\t"
        "add %[x], %[x], #128\n\t"
        "str %[x], %[q]\n\t"
        "ldr %[we], %[qend]\n\t"
        "cmp %[x], %[we]\n\t"
        "bne 5b"
        : [e0] "=&r"(e0), [e1] "=&r"(e1), [e2] "=&r"(e2), [e3] "=&r"(e3), [r0] "=&r"(r0),
          [r1] "=&r"(r1), [r2] "=&r"(r2), [r3] "=&r"(r3), [x] "=&r"(xr), [w] "=&r"(wr),
          [xe] "=&r"(xe), [xo] "=&r"(xo), [we] "=&r"(we), [wo] "=&r"(wo), [cend] "+m"(cend),
          [q] "+m"(q), [y] "+m"(y), [wm] "+m"(wm)
        : [xm] "m"(x), [xend] "m"(xend), [qend] "m"(qend), [chunk] "I"(4 * FF_FC_CHUNK4),
          [hp] "m"(hp), [zp] "m"(out_offset)
        : "cc", "memory");
    *wp = wm;
}

#endif

/* Input x times the packed weights of slot s of the block's 4 pairs (w + 4 j + s, or w + j with
 * a stride of 1 for the tail) into the block's 8 chunk sums. */
#define FF_FC_MAC(xv, h0, h1, h2, h3)                                                            \
    do {                                                                                         \
        const int32_t x_ = (xv);                                                                 \
        e0 += ff_lo_s8(h0) * x_;                                                                 \
        r0 += (int32_t)(h0) * x_;                                                                \
        e1 += ff_lo_s8(h1) * x_;                                                                 \
        r1 += (int32_t)(h1) * x_;                                                                \
        e2 += ff_lo_s8(h2) * x_;                                                                 \
        r2 += (int32_t)(h2) * x_;                                                                \
        e3 += ff_lo_s8(h3) * x_;                                                                 \
        r3 += (int32_t)(h3) * x_;                                                                \
    } while (0)

/* The 8 outputs of block q (4 pairs, records q) for one row x of in = 4 groups + tail inputs;
 * w advances past the block. Each chunk's sums start at 0, so they stay inside int32
 * (|E| <= 511 * 2^14, |R| <= 511 * 2^22 < 2^31); they are folded into s after the chunk. */
static void fc_block(const int8_t *x, FF_CONST int16_t **wp, int32_t groups, int32_t tail,
                     FF_CONST int32_t *q, int8_t *y, int32_t out_offset, int32_t lo, int32_t hi,
                     int narrow) {
    FF_CONST int16_t *w = *wp;
    int32_t s[2 * FF_DENSE_PAIRS];
    for (int32_t k = 0; k < FF_DENSE_PAIRS; k++) {
        s[2 * k] = q[8 * k];
        s[2 * k + 1] = q[8 * k + 4];
    }
    do {
        const int32_t n = groups > FF_FC_CHUNK ? FF_FC_CHUNK : groups;
        int32_t e0 = 0, e1 = 0, e2 = 0, e3 = 0, r0 = 0, r1 = 0, r2 = 0, r3 = 0;
        groups -= n;
        for (FF_CONST int16_t *const wend = w + 16 * n; w != wend; w += 16, x += 4) {
            FF_FC_MAC(x[0], w[0], w[4], w[8], w[12]);
            FF_SCHED_BARRIER();
            FF_FC_MAC(x[2], w[1], w[5], w[9], w[13]);
            FF_SCHED_BARRIER();
            FF_FC_MAC(x[1], w[2], w[6], w[10], w[14]);
            FF_SCHED_BARRIER();
            FF_FC_MAC(x[3], w[3], w[7], w[11], w[15]);
        }
        if (groups == 0) {
            for (int32_t t = 0; t < tail; t++, w += FF_DENSE_PAIRS) {
                FF_FC_MAC(x[t], w[0], w[1], w[2], w[3]);
            }
        }
        s[0] = ff_add32(s[0], e0);
        s[1] = ff_add32(s[1], ff_pair_hi((uint32_t)r0, (uint32_t)e0));
        s[2] = ff_add32(s[2], e1);
        s[3] = ff_add32(s[3], ff_pair_hi((uint32_t)r1, (uint32_t)e1));
        s[4] = ff_add32(s[4], e2);
        s[5] = ff_add32(s[5], ff_pair_hi((uint32_t)r2, (uint32_t)e2));
        s[6] = ff_add32(s[6], e3);
        s[7] = ff_add32(s[7], ff_pair_hi((uint32_t)r3, (uint32_t)e3));
    } while (groups > 0);
    *wp = w;
    fc_out(s, q, 2 * FF_DENSE_PAIRS, y, out_offset, lo, hi, narrow);
}

/* The outputs of one pair (two channels, or one for an odd last channel: n) laid out alone. */
static void fc_pair(const int8_t *x, FF_CONST int16_t **wp, int32_t in, FF_CONST int32_t *q,
                    int32_t n, int8_t *y, int32_t out_offset, int32_t lo, int32_t hi,
                    int narrow) {
    FF_CONST int16_t *w = *wp;
    int32_t s[2] = {q[0], n > 1 ? q[4] : 0};
    int32_t k = 0;
    while (k < in) {
        int32_t end = in - k > FF_PAIR_CHUNK ? k + FF_PAIR_CHUNK : in;
        int32_t e = 0, r = 0;
        for (; k + 4 <= end; k += 4, w += 4) {
#if FF_FC_DSP
            int32_t xw, we, wo;
            __builtin_memcpy(&xw, x + k, 4);
            __builtin_memcpy(&we, w, 4);
            __builtin_memcpy(&wo, w + 2, 4);
            const int32_t xe = __sxtb16(xw), xo = ff_sxtb16_ror8(xw);
            r = __smlad(we, xe, r);
            r = __smlad(wo, xo, r);
            e = __smlad(__sxtb16(we), xe, e);
            e = __smlad(__sxtb16(wo), xo, e);
#else
            e += ff_lo_s8(w[0]) * x[k] + ff_lo_s8(w[1]) * x[k + 2] + ff_lo_s8(w[2]) * x[k + 1] +
                 ff_lo_s8(w[3]) * x[k + 3];
            r += (int32_t)w[0] * x[k] + (int32_t)w[1] * x[k + 2] + (int32_t)w[2] * x[k + 1] +
                 (int32_t)w[3] * x[k + 3];
#endif
        }
        if (end == in) {
            for (; k < end; k++, w++) {
                e += ff_lo_s8(w[0]) * x[k];
                r += (int32_t)w[0] * x[k];
            }
        }
        s[0] = ff_add32(s[0], e);
        s[1] = ff_add32(s[1], ff_pair_hi((uint32_t)r, (uint32_t)e));
    }
    *wp = w + (in & 1);
    fc_out(s, q, n, y, out_offset, lo, hi, narrow);
}

void ff_dense_s8(FF_CONST ff_dense_s8_params *p, const int8_t *x, FF_CONST int16_t *w,
                 FF_CONST int32_t *rec, int8_t *y) {
    const int32_t in = p->in_features, out = p->out_features;
    const int32_t groups = in >> 2, tail = in & 3;
    const int32_t out_offset = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int narrow = lo > -128 || hi < 127;
    const int32_t blocks = out / (2 * FF_DENSE_PAIRS);
    for (int32_t row = 0; row < p->rows; row++, x += in, y += out) {
        FF_CONST int16_t *wp = w;
        int32_t o = 0;
        for (; o < 2 * FF_DENSE_PAIRS * blocks; o += 2 * FF_DENSE_PAIRS) {
            fc_block(x, &wp, groups, tail, rec + 4 * o, y + o, out_offset, lo, hi, narrow);
        }
        for (; o < out; o += 2) {
            fc_pair(x, &wp, in, rec + 4 * o, out - o > 1 ? 2 : 1, y + o, out_offset, lo, hi,
                    narrow);
        }
    }
}

void ff_dense_s8_fast(FF_CONST ff_dense_s8_params *p, const int8_t *x, FF_CONST int16_t *w,
                      FF_CONST int32_t *rec, int8_t *y) {
#if FF_FC_DSP
    const int32_t in = p->in_features, out = p->out_features;
    const int32_t blocks = out / (2 * FF_DENSE_PAIRS);
    for (int32_t row = 0; row < p->rows; row++, x += in, y += out) {
        FF_CONST int16_t *wp = w;
        int32_t o = 2 * FF_DENSE_PAIRS * blocks;
        if (blocks > 0) {
            fc_row_dsp(x, &wp, in >> 2, rec, blocks, y, p->out_offset);
        }
        for (; o < out; o += 2) {
            fc_pair(x, &wp, in, rec + 4 * o, out - o > 1 ? 2 : 1, y + o, p->out_offset, -128,
                    127, 0);
        }
    }
#else
    ff_dense_s8(p, x, w, rec, y);
#endif
}
