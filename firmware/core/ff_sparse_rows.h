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

enum { FF_SP_BITMASK, FF_SP_CSR, FF_SP_CSR16, FF_SP_NM, FF_SP_CODEBOOK };

/* A weight matrix as stored, with what requantizes its outputs. Only the arrays of the
 * format at hand are set. */
typedef struct {
    FF_CONST uint8_t *mask;    /* bitmask */
    FF_CONST int32_t *row_ptr; /* csr, csr16 */
    FF_CONST uint8_t *idx8;    /* csr: col_idx; nm, codebook: the index stream */
    FF_CONST uint16_t *idx16;  /* csr16: col_idx */
    FF_CONST int8_t *v8;       /* values (codebook: the table) of int8 weights */
    FF_CONST uint8_t *v4;      /* ... of int4 weights, a nibble stream */
    FF_CONST int32_t *rec;     /* {bias', 2 mult, k, left} per output channel (ff_pairs.h) */
    int32_t r, c;              /* rows (output channels) and columns of the row view */
    int32_t n, m, bits;        /* nm, codebook */
    int32_t out_offset, lo, hi;
} ff_sparse_mat;

/* Field j of a bits-bit stream (bits in 1, 2, 4, 8). */
static inline int32_t ff_sparse_field(FF_CONST uint8_t *s, int32_t j, int32_t bits) {
    const int32_t bit = j * bits;
    return (int32_t)((uint32_t)s[bit >> 3] >> (bit & 7)) & (((int32_t)1 << bits) - 1);
}

/* Weight e of a values array (or table entry e): int8, or element e of a nibble stream. */
static inline int32_t ff_sparse_w(const ff_sparse_mat *w, int s4, int32_t e) {
    return s4 ? ff_s4_at(w->v4, e) : (int32_t)w->v8[e];
}

/* The lowest set bit of a nonzero byte. */
static inline int ff_sparse_ctz8(uint32_t b) {
#if defined(__GNUC__)
    return __builtin_ctz((unsigned)b);
#else
    int n = 0;
    while ((b & 1u) == 0) {
        b >>= 1;
        n++;
    }
    return n;
#endif
}

/* S = sum over the nonzeros of a CSR row, entries i .. end - 1 (columns col8 or col16). */
static FF_INLINE_BODY int32_t ff_sparse_csr_row(const ff_sparse_mat *w, int wide, int s4,
                                                const int8_t *v, int32_t i, int32_t end) {
    int32_t s = 0;
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

/* y[o] = requantized (bias'[o] + S[o]) for o < w->r, from the input vector v (w->c values). */
static FF_INLINE_BODY void ff_sparse_vec(int fmt, int s4, const ff_sparse_mat *w,
                                         const int8_t *v, int8_t *y) {
    const int32_t r = w->r, c = w->c;
    const int narrow = w->lo > -128 || w->hi < 127;
    FF_CONST int32_t *q = w->rec;
    FF_CONST uint8_t *mask = w->mask;
    int32_t e = 0; /* bitmask: the row's first value */
    for (int32_t o = 0; o < r; o++, q += 4) {
        int32_t s = 0;
        if (fmt == FF_SP_BITMASK) {
            const int32_t bytes = (c + 7) >> 3;
            for (int32_t j = 0; j < bytes; j++) {
                uint32_t bits = mask[j];
                const int8_t *vj = v + 8 * j;
                while (bits != 0) { /* one step per nonzero */
                    s += (int32_t)vj[ff_sparse_ctz8(bits)] * ff_sparse_w(w, s4, e++);
                    bits &= bits - 1u;
                }
            }
            mask += bytes;
        } else if (fmt == FF_SP_CSR || fmt == FF_SP_CSR16) {
            s = ff_sparse_csr_row(w, fmt == FF_SP_CSR16, s4, v, w->row_ptr[o],
                                  w->row_ptr[o + 1]);
        } else if (fmt == FF_SP_NM) {
            /* G groups of n slots; the last group may be cut by the row's end, where a spare
             * slot may point past column c - 1 (its value is 0 and it is skipped). */
            const int32_t n = w->n, m = w->m, bits = w->bits;
            const int32_t g_all = (c + m - 1) / m, g_full = c / m;
            FF_CONST uint8_t *idx = w->idx8 + o * ((g_all * n * bits + 7) >> 3);
            int32_t j = 0, e0 = o * g_all * n;
            const int8_t *vg = v;
            for (int32_t g = 0; g < g_full; g++, vg += m) {
                for (int32_t t = 0; t < n; t++, j++) {
                    s += (int32_t)vg[ff_sparse_field(idx, j, bits)] * ff_sparse_w(w, s4, e0 + j);
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
        } else { /* codebook: every weight, through the table */
            const int32_t bits = w->bits;
            const int32_t e0 = o * c;
            for (int32_t k = 0; k < c; k++) {
                s += (int32_t)v[k] * ff_sparse_w(w, s4, ff_sparse_field(w->idx8, e0 + k, bits));
            }
        }
        y[o] = ff_requant_pre(ff_add32(q[0], s), q[1], q[2], q[3], w->out_offset, w->lo, w->hi,
                              narrow);
    }
}

#endif /* FF_SPARSE_ROWS_H */
