/* The block-sparse product of the bcsr kernels (ff_sparse.h's format "bcsr"): the output
 * channels in groups of four, each group's stored columns visited once for all four channels.
 * Included by ff_sparse_rows.h, after ff_sparse_mat.
 *
 * For group g (channels o = 4g .. 4g + 3) and its entries i = block_ptr[g] .. block_ptr[g+1]-1
 * (an even count, a pair of columns c0 = col[i], c1 = col[i+1] at a time):
 *   S[4g + k] = sum over the pairs of v[c0] w(k, c0) + v[c1] w(k, c1),   k = 0 .. 3
 * with the pair's 8 weights at values + 4 i: w(0,c0) w(1,c0) w(0,c1) w(1,c1) w(2,c0) w(3,c0)
 * w(2,c1) w(3,c1). Each input is loaded once for four channels, which is where the speed over
 * CSR comes from (CSR: an index and an input load per nonzero). A pad entry (an odd group's
 * last column repeated) has zero weights and adds nothing. Channels past R in the last group
 * have zero weights and no output. */
#ifndef FF_SPARSE_BLOCK_H
#define FF_SPARSE_BLOCK_H

#if defined(FF_DSP) && defined(__OPTIMIZE__)
/* Cortex-M DSP: one column pair is the inputs (v[c0], v[c1]) as two halfwords (two index
 * loads, two LDRSB, one PKHBT), the weights as two words wa = rows 0, 1 and wb = rows 2, 3
 * (one LDRD: the values array is 4-byte aligned and every pair starts 8 bytes further), and
 * per channel k one SXTB16 (wa for k = 0, wa ror 8 for k = 1, wb, wb ror 8: the halfwords
 * (w(k,c0), w(k,c1))) and one SMLAD, s_k += v[c0] w(k,c0) + v[c1] w(k,c1): 14 instructions
 * per 8 weights, and two pairs a pass share the loop's SUBS and BGE. LD loads an index, O(k) =
 * k * its size. */
#define FF_SP_BCSR_MAC                               \
    "ldrsb %[t0], [%[v], %[t0]]\n\t"                 \
    "ldrsb %[t1], [%[v], %[t1]]\n\t"                 \
    "pkhbt %[t0], %[t0], %[t1], lsl #16\n\t"         \
    "sxtb16 %[t1], %[wa]\n\t"                        \
    "smlad %[s0], %[t0], %[t1], %[s0]\n\t"           \
    "sxtb16 %[t1], %[wa], ror #8\n\t"                \
    "smlad %[s1], %[t0], %[t1], %[s1]\n\t"           \
    "sxtb16 %[t1], %[wb]\n\t"                        \
    "smlad %[s2], %[t0], %[t1], %[s2]\n\t"           \
    "sxtb16 %[t1], %[wb], ror #8\n\t"                \
    "smlad %[s3], %[t0], %[t1], %[s3]\n\t"
#define FF_SP_BCSR_ASM(LD, O1, O2, O3, STEP2, STEP4)                                          \
    __asm__("subs %[n], %[n], #4\n\t"                                                          \
            "blt 2f\n\t"                                                                       \
            "1:\n\t" /* the second pair of the pass, then the first */                         \
            LD " %[t0], [%[col], #" O2 "]\n\t" LD " %[t1], [%[col], #" O3 "]\n\t"          \
               "ldrd %[wa], %[wb], [%[val], #8]\n\t" FF_SP_BCSR_MAC                            \
            LD " %[t1], [%[col], #" O1 "]\n\t" LD " %[t0], [%[col]], #" STEP4 "\n\t"       \
               "ldrd %[wa], %[wb], [%[val]], #16\n\t" FF_SP_BCSR_MAC                           \
               "subs %[n], %[n], #4\n\t"                                                      \
               "bge 1b\n\t"                                                                   \
               "2:\n\t"                                                                       \
               "adds %[n], %[n], #4\n\t" /* 0 or 2 entries left */                            \
               "beq 3f\n\t"                                                                   \
            LD " %[t1], [%[col], #" O1 "]\n\t" LD " %[t0], [%[col]], #" STEP2 "\n\t"       \
               "ldrd %[wa], %[wb], [%[val]], #8\n\t" FF_SP_BCSR_MAC                            \
               "3:\n\t"                                                                       \
            : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [n] "+r"(n),        \
              [col] "+r"(col), [val] "+r"(val), [wa] "=&r"(wa), [wb] "=&r"(wb),               \
              [t0] "=&r"(t0), [t1] "=&r"(t1)                                                   \
            : [v] "r"(v)                                                                        \
            : "cc", "memory")
#endif

/* s[k] = S[4g + k] over entries i .. end - 1 of a group (columns col8 or col16). */
static FF_INLINE_BODY void ff_sparse_bcsr_sums(const ff_sparse_mat *w, int wide, const int8_t *v,
                                               int32_t i, int32_t end, int32_t *s) {
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#if defined(FF_DSP) && defined(__OPTIMIZE__)
    FF_CONST int8_t *val = w->v8 + 4 * i;
    int32_t n = end - i, wa, wb, t0, t1;
    if (wide) {
        FF_CONST uint16_t *col = w->idx16 + i;
        FF_SP_BCSR_ASM("ldrh", "2", "4", "6", "4", "8");
    } else {
        FF_CONST uint8_t *col = w->idx8 + i;
        FF_SP_BCSR_ASM("ldrb", "1", "2", "3", "2", "4");
    }
#else
    /* int32_t operands: AVR's int has 16 bits, and two int8 products can reach 2^15 */
    for (FF_CONST int8_t *q = w->v8 + 4 * i; i < end; i += 2, q += 8) {
        const int32_t a = v[wide ? (int32_t)w->idx16[i] : (int32_t)w->idx8[i]];
        const int32_t b = v[wide ? (int32_t)w->idx16[i + 1] : (int32_t)w->idx8[i + 1]];
        s0 += a * q[0] + b * q[2];
        s1 += a * q[1] + b * q[3];
        s2 += a * q[4] + b * q[6];
        s3 += a * q[5] + b * q[7];
    }
#endif
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}

/* y[o] = requantized (bias'[o] + S[o]) for o < w->r, group by group (block_ptr in row_ptr). */
static FF_INLINE_BODY void ff_sparse_bcsr_vec(const ff_sparse_mat *w, int wide, const int8_t *v,
                                              int8_t *y) {
    const int32_t r = w->r;
    const int narrow = w->lo > -128 || w->hi < 127;
    FF_CONST int32_t *q = w->rec;
    FF_CONST int32_t *ptr = w->row_ptr;
    for (int32_t o = 0; o < r; o += 4, ptr++) {
        int32_t s[4];
        ff_sparse_bcsr_sums(w, wide, v, ptr[0], ptr[1], s);
        const int32_t left = r - o < 4 ? r - o : 4; /* the last group's real channels */
        for (int32_t k = 0; k < left; k++, q += 4) {
            y[o + k] = ff_requant_pre(ff_add32(q[0], s[k]), q[1], q[2], q[3], w->out_offset,
                                      w->lo, w->hi, narrow);
        }
    }
}

#endif /* FF_SPARSE_BLOCK_H */
