/* Conv2d kernels (groups = 1) with compressed weights; the math and the storage formats are in
 * ff_sparse.h, the shared product in ff_sparse_rows.h. Each output pixel's patch is one input
 * vector: read in place when it is one contiguous run of x inside the image (a 1x1 kernel, or
 * one kernel row of undilated taps), else gathered into scratch with the padding's taps set to
 * the input zero point. Data is addressed through int32_t offsets, as in ff_conv.c. */
#include "ff_sparse_rows.h"

/* The patch of output pixel (oy, ox) of the image at xb (in_h x in_w x in_c). */
static const int8_t *conv_patch(FF_CONST ff_conv2d_sparse_params *p, const int8_t *xb,
                                int32_t oy, int32_t ox, int8_t *scratch) {
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
    const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int inside = iy0 >= 0 && ix0 >= 0 && iy0 + (k_h - 1) * dil_h < in_h &&
                       ix0 + (k_w - 1) * dil_w < in_w;
    if (inside && k_h == 1 && (k_w == 1 || dil_w == 1)) {
        return xb + (iy0 * in_w + ix0) * in_c;
    }
    const int8_t pad = (int8_t)p->pad_value;
    int32_t d = 0;
    for (int32_t ky = 0; ky < k_h; ky++) {
        const int32_t iy = iy0 + ky * dil_h;
        const int row_in = iy >= 0 && iy < in_h;
        for (int32_t kx = 0; kx < k_w; kx++) {
            const int32_t ix = ix0 + kx * dil_w;
            if (row_in && ix >= 0 && ix < in_w) {
                const int32_t s = (iy * in_w + ix) * in_c;
                for (int32_t i = 0; i < in_c; i++) {
                    scratch[d + i] = xb[s + i];
                }
            } else {
                for (int32_t i = 0; i < in_c; i++) {
                    scratch[d + i] = pad;
                }
            }
            d += in_c;
        }
    }
    return scratch;
}

/* The matrix of a Conv2d layer (the format's arrays are set by the caller). */
static void conv_mat(FF_CONST ff_conv2d_sparse_params *p, FF_CONST int32_t *rec,
                     ff_sparse_mat *w) {
    w->mask = 0;
    w->row_ptr = 0;
    w->idx8 = 0;
    w->idx16 = 0;
    w->v8 = 0;
    w->v4 = 0;
    w->rec = rec;
    w->r = p->out_c;
    w->c = p->k_h * p->k_w * p->in_c;
    w->n = p->n;
    w->m = p->m;
    w->bits = p->bits;
    w->out_offset = p->out_offset;
    w->lo = p->act_min;
    w->hi = p->act_max;
}

static FF_INLINE_BODY void conv_pixels(FF_CONST ff_conv2d_sparse_params *p, int fmt, int s4,
                                       const ff_sparse_mat *w, const int8_t *x, int8_t *y,
                                       int8_t *scratch) {
    const int32_t image = p->in_h * p->in_w * p->in_c;
    int32_t yo = 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *xb = x + b * image;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, yo += w->r) {
                ff_sparse_vec(fmt, s4, w, conv_patch(p, xb, oy, ox, scratch), y + yo);
            }
        }
    }
}

void ff_conv2d_s8_bitmask(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                          FF_CONST uint8_t *mask, FF_CONST int8_t *values,
                          FF_CONST int32_t *rec, int8_t *y, int8_t *scratch) {
    ff_sparse_mat w;
    conv_mat(p, rec, &w);
    w.mask = mask;
    w.v8 = values;
    conv_pixels(p, FF_SP_BITMASK, 0, &w, x, y, scratch);
}

void ff_conv2d_s8_s4_bitmask(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                             FF_CONST uint8_t *mask, FF_CONST uint8_t *values,
                             FF_CONST int32_t *rec, int8_t *y, int8_t *scratch) {
    ff_sparse_mat w;
    conv_mat(p, rec, &w);
    w.mask = mask;
    w.v4 = values;
    conv_pixels(p, FF_SP_BITMASK, 1, &w, x, y, scratch);
}

void ff_conv2d_s8_csr(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                      FF_CONST int32_t *row_ptr, FF_CONST uint8_t *col_idx,
                      FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y,
                      int8_t *scratch) {
    ff_sparse_mat w;
    conv_mat(p, rec, &w);
    w.row_ptr = row_ptr;
    w.idx8 = col_idx;
    w.v8 = values;
    conv_pixels(p, FF_SP_CSR, 0, &w, x, y, scratch);
}

void ff_conv2d_s8_csr16(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                        FF_CONST int32_t *row_ptr, FF_CONST uint16_t *col_idx,
                        FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y,
                        int8_t *scratch) {
    ff_sparse_mat w;
    conv_mat(p, rec, &w);
    w.row_ptr = row_ptr;
    w.idx16 = col_idx;
    w.v8 = values;
    conv_pixels(p, FF_SP_CSR16, 0, &w, x, y, scratch);
}

void ff_conv2d_s8_bcsr(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                       FF_CONST int32_t *block_ptr, FF_CONST uint8_t *col_idx,
                       FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y,
                       int8_t *scratch) {
    ff_sparse_mat w;
    conv_mat(p, rec, &w);
    w.row_ptr = block_ptr;
    w.idx8 = col_idx;
    w.v8 = values;
    conv_pixels(p, FF_SP_BCSR, 0, &w, x, y, scratch);
}

void ff_conv2d_s8_bcsr16(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                         FF_CONST int32_t *block_ptr, FF_CONST uint16_t *col_idx,
                         FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y,
                         int8_t *scratch) {
    ff_sparse_mat w;
    conv_mat(p, rec, &w);
    w.row_ptr = block_ptr;
    w.idx16 = col_idx;
    w.v8 = values;
    conv_pixels(p, FF_SP_BCSR16, 0, &w, x, y, scratch);
}

void ff_conv2d_s8_s4_csr(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                         FF_CONST int32_t *row_ptr, FF_CONST uint8_t *col_idx,
                         FF_CONST uint8_t *values, FF_CONST int32_t *rec, int8_t *y,
                         int8_t *scratch) {
    ff_sparse_mat w;
    conv_mat(p, rec, &w);
    w.row_ptr = row_ptr;
    w.idx8 = col_idx;
    w.v4 = values;
    conv_pixels(p, FF_SP_CSR, 1, &w, x, y, scratch);
}

void ff_conv2d_s8_s4_csr16(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                           FF_CONST int32_t *row_ptr, FF_CONST uint16_t *col_idx,
                           FF_CONST uint8_t *values, FF_CONST int32_t *rec, int8_t *y,
                           int8_t *scratch) {
    ff_sparse_mat w;
    conv_mat(p, rec, &w);
    w.row_ptr = row_ptr;
    w.idx16 = col_idx;
    w.v4 = values;
    conv_pixels(p, FF_SP_CSR16, 1, &w, x, y, scratch);
}

void ff_conv2d_s8_nm(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                     FF_CONST uint8_t *indices, FF_CONST int8_t *values,
                     FF_CONST int32_t *rec, int8_t *y, int8_t *scratch) {
    ff_sparse_mat w;
    conv_mat(p, rec, &w);
    w.idx8 = indices;
    w.v8 = values;
    conv_pixels(p, FF_SP_NM, 0, &w, x, y, scratch);
}

void ff_conv2d_s8_s4_nm(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                        FF_CONST uint8_t *indices, FF_CONST uint8_t *values,
                        FF_CONST int32_t *rec, int8_t *y, int8_t *scratch) {
    ff_sparse_mat w;
    conv_mat(p, rec, &w);
    w.idx8 = indices;
    w.v4 = values;
    conv_pixels(p, FF_SP_NM, 1, &w, x, y, scratch);
}

void ff_conv2d_s8_codebook(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                           FF_CONST int8_t *table, FF_CONST uint8_t *indices,
                           FF_CONST int32_t *rec, int8_t *y, int8_t *scratch) {
    ff_sparse_mat w;
    conv_mat(p, rec, &w);
    w.idx8 = indices;
    w.v8 = table;
    conv_pixels(p, FF_SP_CODEBOOK, 0, &w, x, y, scratch);
}

void ff_conv2d_s8_s4_codebook(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                              FF_CONST uint8_t *table, FF_CONST uint8_t *indices,
                              FF_CONST int32_t *rec, int8_t *y, int8_t *scratch) {
    ff_sparse_mat w;
    conv_mat(p, rec, &w);
    w.idx8 = indices;
    w.v4 = table;
    conv_pixels(p, FF_SP_CODEBOOK, 1, &w, x, y, scratch);
}
