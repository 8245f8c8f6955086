/* The matrix-vector product shared by the compressed-weight kernels (ff_sparse_dense.c,
 * ff_sparse_conv.c): y[o] for every output channel o from one input vector v, the weights read
 * in their storage format. The math and the formats are in ff_sparse.h.
 *
 * ff_sparse_vec is one body for every format and both weight types: every kernel calls it with
 * literal fmt and s4, which FF_INLINE_BODY folds, so each kernel keeps only its own loop. */
#ifndef FF_SPARSE_ROWS_H
#define FF_SPARSE_ROWS_H

#include "ff_pairs.h"
#include "ff_sparse.h"

enum { FF_SP_BITMASK, FF_SP_CSR, FF_SP_CSR16, FF_SP_BCSR, FF_SP_BCSR16, FF_SP_NM, FF_SP_CODEBOOK };

/* A weight matrix as stored, with what requantizes its outputs. Only the arrays of the
 * format at hand are set. */
typedef struct {
    FF_CONST uint8_t *mask;    /* bitmask */
    FF_CONST int32_t *row_ptr; /* csr, csr16; bcsr, bcsr16: block_ptr */
    FF_CONST uint8_t *idx8;    /* csr, bcsr: col_idx; nm, codebook: the index stream */
    FF_CONST uint16_t *idx16;  /* csr16, bcsr16: col_idx */
    FF_CONST int8_t *v8;       /* values (codebook: the table) of int8 weights */
    FF_CONST uint8_t *v4;      /* ... of int4 weights, a nibble stream */
    FF_CONST int32_t *rec;     /* {bias', 2 mult, k, left} per output channel (ff_pairs.h) */
    int32_t r, c;              /* rows (output channels) and columns of the row view */
    int32_t n, m, bits;        /* nm, codebook */
    int32_t out_offset, lo, hi;
} ff_sparse_mat;

#include "ff_sparse_block.h" /* the bcsr product, on ff_sparse_mat */

/* Field j of a bits-bit stream (bits in 1, 2, 4, 8). */
static inline int32_t ff_sparse_field(FF_CONST uint8_t *s, int32_t j, int32_t bits) {
    const int32_t bit = j * bits;
    return (int32_t)((uint32_t)s[bit >> 3] >> (bit & 7)) & (((int32_t)1 << bits) - 1);
}

/* Weight e of a values array (or table entry e): int8, or element e of a nibble stream. */
static inline int32_t ff_sparse_w(const ff_sparse_mat *w, int s4, int32_t e) {
    return s4 ? ff_s4_at(w->v4, e) : (int32_t)w->v8[e];
}

/* The lowest set bit of a nonzero byte: RBIT and CLZ where the core has them, else three
 * halvings (a __builtin_ctz would be a library call there). */
static inline int ff_sparse_ctz8(uint32_t b) {
#if defined(__GNUC__) && defined(__ARM_FEATURE_CLZ) && __ARM_ARCH >= 7
    return __builtin_ctz((unsigned)b);
#else
    int n = 0;
    if ((b & 15u) == 0) {
        n = 4;
        b >>= 4;
    }
    if ((b & 3u) == 0) {
        n += 2;
        b >>= 2;
    }
    return n + (int)((b & 1u) ^ 1u);
#endif
}

#if defined(FF_DSP) && defined(__OPTIMIZE__)
/* The Cortex-M DSP loop of a CSR row with int8 weights, eight nonzeros a pass: the weights
 * as two words (an unaligned LDR is one instruction on these cores), each split by SXTB16
 * into its bytes 0, 2 and 1, 3 as halfwords, and one SMLABB / SMLABT per nonzero, the
 * gathered input (LDRSB: its low halfword is its int16 value) times its weight's halfword;
 * then one nonzero at a time. 4 instructions a nonzero in the loop: the index, the input, a
 * quarter of a weight word and a half SXTB16, the multiply-add, a quarter of the loop test.
 * LD loads an index, at byte offsets O(k) = k * its size, STEP = 8 indices. */
#define FF_SP_CSR_PAIR(LD, OA, OB, ROR)                                                          \
    LD " %[t0], [%[col], #" OA "]\n\t" LD " %[t1], [%[col], #" OB "]\n\t"                     \
       "ldrsb %[t0], [%[v], %[t0]]\n\t"                                                       \
       "ldrsb %[t1], [%[v], %[t1]]\n\t"                                                       \
       "sxtb16 %[we], %[wa]" ROR "\n\t"                                                        \
       "smlabb %[s], %[t0], %[we], %[s]\n\t"                                                  \
       "smlabt %[s], %[t1], %[we], %[s]\n\t"
#define FF_SP_CSR_ASM(LD, O1, O2, O3, O4, O5, O6, O7, STEP, ONE)                                 \
    __asm__("subs %[n], %[n], #8\n\t"                                                          \
            "blt 2f\n\t"                                                                       \
            "1:\n\t"                                                                           \
            "ldr %[wa], [%[val], #4]\n\t" FF_SP_CSR_PAIR(LD, O4, O6, "")                        \
                FF_SP_CSR_PAIR(LD, O5, O7, ", ror #8")                                          \
            "ldr %[wa], [%[val]], #8\n\t" FF_SP_CSR_PAIR(LD, O1, O3, ", ror #8")                \
            LD " %[t1], [%[col], #" O2 "]\n\t" LD " %[t0], [%[col]], #" STEP "\n\t"            \
               "ldrsb %[t0], [%[v], %[t0]]\n\t"                                               \
               "ldrsb %[t1], [%[v], %[t1]]\n\t"                                               \
               "sxtb16 %[we], %[wa]\n\t"                                                      \
               "smlabb %[s], %[t0], %[we], %[s]\n\t"                                          \
               "smlabt %[s], %[t1], %[we], %[s]\n\t"                                          \
               "subs %[n], %[n], #8\n\t"                                                      \
               "bge 1b\n\t"                                                                   \
               "2:\n\t"                                                                       \
               "adds %[n], %[n], #8\n\t"                                                      \
               "beq 4f\n\t"                                                                   \
               "3:\n\t" LD " %[t0], [%[col]], #" ONE "\n\t"                                  \
               "ldrsb %[wa], [%[val]], #1\n\t"                                                \
               "ldrsb %[t0], [%[v], %[t0]]\n\t"                                               \
               "subs %[n], %[n], #1\n\t"                                                      \
               "smlabb %[s], %[t0], %[wa], %[s]\n\t"                                          \
               "bne 3b\n\t"                                                                   \
               "4:\n\t"                                                                       \
            : [s] "+r"(s), [n] "+r"(n), [col] "+r"(col), [val] "+r"(val), [wa] "=&r"(wa),     \
              [we] "=&r"(we), [t0] "=&r"(t0), [t1] "=&r"(t1)                                   \
            : [v] "r"(v)                                                                        \
            : "cc", "memory")

static inline int32_t ff_sparse_csr8_dsp(const int8_t *v, FF_CONST uint8_t *col,
                                         FF_CONST int8_t *val, int32_t n) {
    int32_t s = 0, wa, we, t0, t1;
    FF_SP_CSR_ASM("ldrb", "1", "2", "3", "4", "5", "6", "7", "8", "1");
    return s;
}

static inline int32_t ff_sparse_csr16_dsp(const int8_t *v, FF_CONST uint16_t *col,
                                          FF_CONST int8_t *val, int32_t n) {
    int32_t s = 0, wa, we, t0, t1;
    FF_SP_CSR_ASM("ldrh", "2", "4", "6", "8", "10", "12", "14", "16", "2");
    return s;
}
#endif

/* Cortex-M cores with Thumb-2 (M3, M4, M7, M33) load unaligned words in one LDR and have RBIT
 * and CLZ: there a bitmask row is read 32 columns at a time. */
#if defined(__GNUC__) && defined(__thumb2__) && defined(__ARM_FEATURE_UNALIGNED) && \
    defined(__ARM_FEATURE_CLZ) && defined(__OPTIMIZE__)
#define FF_SP_MASK_WORDS 1
static inline uint32_t ff_sparse_rbit(uint32_t x) {
    uint32_t r;
    __asm__("rbit %0, %1" : "=r"(r) : "r"(x));
    return r;
}
#else
#define FF_SP_MASK_WORDS 0
#endif

/* S over a bitmask row: its mask (bytes = ceil(c / 8) bytes) and values from *val (int8) or
 * element *e (int4), both advanced past the row. On FF_SP_MASK_WORDS cores the whole words of
 * the mask go first: a zero word costs two instructions, and a nonzero one is bit-reversed
 * once, so that each nonzero takes a CLZ (its column), the products, and clearing its bit. */
static FF_INLINE_BODY int32_t ff_sparse_bitmask_row(const ff_sparse_mat *w, int s4,
                                                    const int8_t *v, FF_CONST uint8_t *mask,
                                                    int32_t bytes, FF_CONST int8_t **val,
                                                    int32_t *e) {
    int32_t s = 0, j = 0;
    FF_CONST int8_t *vp = *val;
    int32_t ep = *e;
#if FF_SP_MASK_WORDS
    for (; j + 4 <= bytes; j += 4) {
        uint32_t r;
        __builtin_memcpy(&r, (const void *)(mask + j), 4);
        if (r == 0) {
            continue;
        }
        const int8_t *vj = v + 8 * j;
        r = ff_sparse_rbit(r); /* column k of the word is bit 31 - k */
        do {
            const int z = __builtin_clz(r);
            s += (int32_t)vj[z] * (s4 ? ff_s4_at(w->v4, ep++) : (int32_t)*vp++);
            r &= ~(0x80000000u >> z);
        } while (r != 0);
    }
#endif
    for (; j < bytes; j++) {
        uint32_t bits = mask[j];
        const int8_t *vj = v + 8 * j;
        while (bits != 0) { /* one step per nonzero */
            s += (int32_t)vj[ff_sparse_ctz8(bits)] * (s4 ? ff_s4_at(w->v4, ep++)
                                                         : (int32_t)*vp++);
            bits &= bits - 1u;
        }
    }
    *val = vp;
    *e = ep;
    return s;
}

/* S = sum over the nonzeros of a CSR row, entries i .. end - 1 (columns col8 or col16). */
static FF_INLINE_BODY int32_t ff_sparse_csr_row(const ff_sparse_mat *w, int wide, int s4,
                                                const int8_t *v, int32_t i, int32_t end) {
    int32_t s = 0;
#if defined(FF_DSP) && defined(__OPTIMIZE__)
    if (!s4) {
        return wide ? ff_sparse_csr16_dsp(v, w->idx16 + i, w->v8 + i, end - i)
                    : ff_sparse_csr8_dsp(v, w->idx8 + i, w->v8 + i, end - i);
    }
#endif
    if (!s4 && !wide) {
        FF_CONST uint8_t *col = w->idx8;
        FF_CONST int8_t *val = w->v8;
        /* four at a time: fewer loop tests, independent loads */
        for (; i + 4 <= end; i += 4) {
            s += (int32_t)v[col[i]] * val[i] + (int32_t)v[col[i + 1]] * val[i + 1] +
                 (int32_t)v[col[i + 2]] * val[i + 2] + (int32_t)v[col[i + 3]] * val[i + 3];
        }
    }
    for (; i < end; i++) {
        const int32_t c = wide ? (int32_t)w->idx16[i] : (int32_t)w->idx8[i];
        s += (int32_t)v[c] * ff_sparse_w(w, s4, i);
    }
    return s;
}

/* S over row o of an N:M matrix: G groups of n slots; the last group may be cut by the row's
 * end, where a spare slot may point past column c - 1 (its value is 0 and it is skipped). 2:4
 * and 1:4 (2-bit fields) read a byte of fields at a time, the groups it covers whole. */
static FF_INLINE_BODY int32_t ff_sparse_nm_row(const ff_sparse_mat *w, int s4, const int8_t *v,
                                               int32_t o) {
    const int32_t n = w->n, m = w->m, bits = w->bits, c = w->c;
    const int32_t g_all = (c + m - 1) / m, g_full = c / m;
    FF_CONST uint8_t *idx = w->idx8 + o * ((g_all * n * bits + 7) >> 3);
    const int32_t e0 = o * g_all * n;
    int32_t s = 0, j = 0, g = 0;
    const int8_t *vg = v;
    if (bits == 2 && m == 4 && n == 2) { /* a byte: two groups, 8 columns */
        for (FF_CONST uint8_t *b = idx; g + 2 <= g_full; g += 2, j += 4, vg += 8) {
            const uint32_t f = *b++;
            s += (int32_t)vg[f & 3u] * ff_sparse_w(w, s4, e0 + j) +
                 (int32_t)vg[(f >> 2) & 3u] * ff_sparse_w(w, s4, e0 + j + 1) +
                 (int32_t)vg[4 + ((f >> 4) & 3u)] * ff_sparse_w(w, s4, e0 + j + 2) +
                 (int32_t)vg[4 + (f >> 6)] * ff_sparse_w(w, s4, e0 + j + 3);
        }
    } else if (bits == 2 && m == 4 && n == 1) { /* a byte: four groups, 16 columns */
        for (FF_CONST uint8_t *b = idx; g + 4 <= g_full; g += 4, j += 4, vg += 16) {
            const uint32_t f = *b++;
            s += (int32_t)vg[f & 3u] * ff_sparse_w(w, s4, e0 + j) +
                 (int32_t)vg[4 + ((f >> 2) & 3u)] * ff_sparse_w(w, s4, e0 + j + 1) +
                 (int32_t)vg[8 + ((f >> 4) & 3u)] * ff_sparse_w(w, s4, e0 + j + 2) +
                 (int32_t)vg[12 + (f >> 6)] * ff_sparse_w(w, s4, e0 + j + 3);
        }
    }
    /* the other patterns (and what the loops above left): field after field, from a byte
     * boundary (j bits is a multiple of 8 here) */
    FF_CONST uint8_t *b = idx + ((j * bits) >> 3);
    const uint32_t low = ((uint32_t)1 << bits) - 1u;
    uint32_t f = 0;
    int32_t avail = 0, t = 0;
    for (const int32_t j_end = g_full * n; j < j_end; j++) { /* one loop: few registers */
        if (avail == 0) {
            f = *b++;
            avail = 8;
        }
        s += (int32_t)vg[f & low] * ff_sparse_w(w, s4, e0 + j);
        f >>= bits;
        avail -= bits;
        if (++t == n) {
            t = 0;
            vg += m;
        }
    }
    if (g_full < g_all) {
        const int32_t left = c - g_full * m;
        for (int32_t t = 0; t < n; t++, j++) {
            const int32_t col = ff_sparse_field(idx, j, bits);
            if (col < left) {
                s += (int32_t)vg[col] * ff_sparse_w(w, s4, e0 + j);
            }
        }
    }
    return s;
}

/* S over row o of a codebook matrix: fields e = o c .. o c + c - 1 of the index stream. Once
 * the fields reach a byte boundary they are read a byte at a time (8 / bits of them). */
static FF_INLINE_BODY int32_t ff_sparse_codebook_row(const ff_sparse_mat *w, int s4,
                                                     const int8_t *v, int32_t o) {
    const int32_t bits = w->bits, c = w->c, e = o * c;
    int32_t s = 0, k = 0;
    for (; k < c && (((e + k) * bits) & 7) != 0; k++) {
        s += (int32_t)v[k] * ff_sparse_w(w, s4, ff_sparse_field(w->idx8, e + k, bits));
    }
    FF_CONST uint8_t *b = w->idx8 + (((e + k) * bits) >> 3);
    if (bits == 8) {
        for (; k < c; k++) {
            s += (int32_t)v[k] * ff_sparse_w(w, s4, *b++);
        }
    } else if (bits == 4) {
        for (; k + 2 <= c; k += 2) {
            const uint32_t f = *b++;
            s += (int32_t)v[k] * ff_sparse_w(w, s4, (int32_t)(f & 15u)) +
                 (int32_t)v[k + 1] * ff_sparse_w(w, s4, (int32_t)(f >> 4));
        }
    } else if (bits == 2) {
        for (; k + 4 <= c; k += 4) {
            const uint32_t f = *b++;
            s += (int32_t)v[k] * ff_sparse_w(w, s4, (int32_t)(f & 3u)) +
                 (int32_t)v[k + 1] * ff_sparse_w(w, s4, (int32_t)((f >> 2) & 3u)) +
                 (int32_t)v[k + 2] * ff_sparse_w(w, s4, (int32_t)((f >> 4) & 3u)) +
                 (int32_t)v[k + 3] * ff_sparse_w(w, s4, (int32_t)(f >> 6));
        }
    } else { /* 1 bit: eight fields a byte */
        for (; k + 8 <= c; k += 8) {
            const uint32_t f = *b++;
            for (int32_t i = 0; i < 8; i++) {
                s += (int32_t)v[k + i] * ff_sparse_w(w, s4, (int32_t)((f >> i) & 1u));
            }
        }
    }
    for (; k < c; k++) {
        s += (int32_t)v[k] * ff_sparse_w(w, s4, ff_sparse_field(w->idx8, e + k, bits));
    }
    return s;
}

/* y[o] = requantized (bias'[o] + S[o]) for o < w->r, from the input vector v (w->c values). */
static FF_INLINE_BODY void ff_sparse_vec(int fmt, int s4, const ff_sparse_mat *w,
                                         const int8_t *v, int8_t *y) {
    const int32_t r = w->r, c = w->c;
    const int narrow = w->lo > -128 || w->hi < 127;
    FF_CONST int32_t *q = w->rec;
    FF_CONST uint8_t *mask = w->mask;
    FF_CONST int8_t *val = w->v8; /* bitmask: the row's first value (int8) ... */
    int32_t e = 0;                /* ... or its element (int4) */
    if (fmt == FF_SP_BCSR || fmt == FF_SP_BCSR16) { /* int8 only: four channels at a time */
        ff_sparse_bcsr_vec(w, fmt == FF_SP_BCSR16, v, y);
        return;
    }
    for (int32_t o = 0; o < r; o++, q += 4) {
        int32_t s = 0;
        if (fmt == FF_SP_BITMASK) {
            const int32_t bytes = (c + 7) >> 3;
            s = ff_sparse_bitmask_row(w, s4, v, mask, bytes, &val, &e);
            mask += bytes;
        } else if (fmt == FF_SP_CSR || fmt == FF_SP_CSR16) {
            s = ff_sparse_csr_row(w, fmt == FF_SP_CSR16, s4, v, w->row_ptr[o],
                                  w->row_ptr[o + 1]);
        } else if (fmt == FF_SP_NM) {
            s = ff_sparse_nm_row(w, s4, v, o);
        } else {
            s = ff_sparse_codebook_row(w, s4, v, o);
        }
        y[o] = ff_requant_pre(ff_add32(q[0], s), q[1], q[2], q[3], w->out_offset, w->lo, w->hi,
                              narrow);
    }
}

#endif /* FF_SPARSE_ROWS_H */
