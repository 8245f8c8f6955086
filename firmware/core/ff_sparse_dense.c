/* Dense (fully connected) kernels with compressed weights; the math and the storage formats
 * are in ff_sparse.h, the shared product in ff_sparse_rows.h. Each row of x is one input
 * vector. */
#include "ff_sparse_rows.h"

/* The matrix of a Dense layer (the format's arrays are set by the caller). */
static void dense_mat(FF_CONST ff_dense_sparse_params *p, FF_CONST int32_t *rec,
                      ff_sparse_mat *w) {
    w->mask = 0;
    w->row_ptr = 0;
    w->idx8 = 0;
    w->idx16 = 0;
    w->v8 = 0;
    w->v4 = 0;
    w->rec = rec;
    w->r = p->out_features;
    w->c = p->in_features;
    w->n = p->n;
    w->m = p->m;
    w->bits = p->bits;
    w->out_offset = p->out_offset;
    w->lo = p->act_min;
    w->hi = p->act_max;
}

static FF_INLINE_BODY void dense_rows(FF_CONST ff_dense_sparse_params *p, int fmt, int s4,
                                      const ff_sparse_mat *w, const int8_t *x, int8_t *y) {
    for (int32_t r = 0; r < p->rows; r++) {
        ff_sparse_vec(fmt, s4, w, x + r * w->c, y + r * w->r);
    }
}

void ff_dense_s8_bitmask(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                         FF_CONST uint8_t *mask, FF_CONST int8_t *values,
                         FF_CONST int32_t *rec, int8_t *y) {
    ff_sparse_mat w;
    dense_mat(p, rec, &w);
    w.mask = mask;
    w.v8 = values;
    dense_rows(p, FF_SP_BITMASK, 0, &w, x, y);
}

void ff_dense_s8_s4_bitmask(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                            FF_CONST uint8_t *mask, FF_CONST uint8_t *values,
                            FF_CONST int32_t *rec, int8_t *y) {
    ff_sparse_mat w;
    dense_mat(p, rec, &w);
    w.mask = mask;
    w.v4 = values;
    dense_rows(p, FF_SP_BITMASK, 1, &w, x, y);
}

void ff_dense_s8_csr(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                     FF_CONST int32_t *row_ptr, FF_CONST uint8_t *col_idx,
                     FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y) {
    ff_sparse_mat w;
    dense_mat(p, rec, &w);
    w.row_ptr = row_ptr;
    w.idx8 = col_idx;
    w.v8 = values;
    dense_rows(p, FF_SP_CSR, 0, &w, x, y);
}

void ff_dense_s8_csr16(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                       FF_CONST int32_t *row_ptr, FF_CONST uint16_t *col_idx,
                       FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y) {
    ff_sparse_mat w;
    dense_mat(p, rec, &w);
    w.row_ptr = row_ptr;
    w.idx16 = col_idx;
    w.v8 = values;
    dense_rows(p, FF_SP_CSR16, 0, &w, x, y);
}

void ff_dense_s8_bcsr(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                      FF_CONST int32_t *block_ptr, FF_CONST uint8_t *col_idx,
                      FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y) {
    ff_sparse_mat w;
    dense_mat(p, rec, &w);
    w.row_ptr = block_ptr;
    w.idx8 = col_idx;
    w.v8 = values;
    dense_rows(p, FF_SP_BCSR, 0, &w, x, y);
}

void ff_dense_s8_bcsr16(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                        FF_CONST int32_t *block_ptr, FF_CONST uint16_t *col_idx,
                        FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y) {
    ff_sparse_mat w;
    dense_mat(p, rec, &w);
    w.row_ptr = block_ptr;
    w.idx16 = col_idx;
    w.v8 = values;
    dense_rows(p, FF_SP_BCSR16, 0, &w, x, y);
}

void ff_dense_s8_s4_csr(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                        FF_CONST int32_t *row_ptr, FF_CONST uint8_t *col_idx,
                        FF_CONST uint8_t *values, FF_CONST int32_t *rec, int8_t *y) {
    ff_sparse_mat w;
    dense_mat(p, rec, &w);
    w.row_ptr = row_ptr;
    w.idx8 = col_idx;
    w.v4 = values;
    dense_rows(p, FF_SP_CSR, 1, &w, x, y);
}

void ff_dense_s8_s4_csr16(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                          FF_CONST int32_t *row_ptr, FF_CONST uint16_t *col_idx,
                          FF_CONST uint8_t *values, FF_CONST int32_t *rec, int8_t *y) {
    ff_sparse_mat w;
    dense_mat(p, rec, &w);
    w.row_ptr = row_ptr;
    w.idx16 = col_idx;
    w.v4 = values;
    dense_rows(p, FF_SP_CSR16, 1, &w, x, y);
}

void ff_dense_s8_nm(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                    FF_CONST uint8_t *indices, FF_CONST int8_t *values, FF_CONST int32_t *rec,
                    int8_t *y) {
    ff_sparse_mat w;
    dense_mat(p, rec, &w);
    w.idx8 = indices;
    w.v8 = values;
    dense_rows(p, FF_SP_NM, 0, &w, x, y);
}

void ff_dense_s8_s4_nm(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                       FF_CONST uint8_t *indices, FF_CONST uint8_t *values,
                       FF_CONST int32_t *rec, int8_t *y) {
    ff_sparse_mat w;
    dense_mat(p, rec, &w);
    w.idx8 = indices;
    w.v4 = values;
    dense_rows(p, FF_SP_NM, 1, &w, x, y);
}

void ff_dense_s8_codebook(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                          FF_CONST int8_t *table, FF_CONST uint8_t *indices,
                          FF_CONST int32_t *rec, int8_t *y) {
    ff_sparse_mat w;
    dense_mat(p, rec, &w);
    w.idx8 = indices;
    w.v8 = table;
    dense_rows(p, FF_SP_CODEBOOK, 0, &w, x, y);
}

void ff_dense_s8_s4_codebook(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                             FF_CONST uint8_t *table, FF_CONST uint8_t *indices,
                             FF_CONST int32_t *rec, int8_t *y) {
    ff_sparse_mat w;
    dense_mat(p, rec, &w);
    w.idx8 = indices;
    w.v4 = table;
    dense_rows(p, FF_SP_CODEBOOK, 1, &w, x, y);
}
