/* Dense and Conv2d kernels whose int8 or int4 weights are stored compressed: sparse (bitmask,
 * CSR, block CSR, N:M) or as a codebook. The storage formats are converter/encoding.py's
 * (Bitmask(0), CSR(0), BlockCSR(0), NM(n, m, 0), Codebook(bits)), read as the converter writes
 * them; nothing is expanded
 * into RAM, and the sparse kernels visit only the stored values.
 *
 * The arithmetic is ff_dense_s8's and ff_conv2d_s8's (groups = 1), on the integer weights the
 * storage holds:
 *   acc[o] = bias[o] + sum_c (v[c] + in_offset) * w[o][c]
 *   y[o]   = clamp(ff_mbqm(acc[o], mult[o], shift[o]) + out_offset, act_min, act_max)
 * where the row view w[o][c] (c < C) is the weight tensor with its output channels first
 * (Dense: w[o][k], C = in_features; Conv2d OHWI: w[o][ky][kx][i] flattened, C = k_h k_w in_c),
 * and v is the layer's input vector for one output: a row of x for Dense, for Conv2d the patch
 *   v[(ky k_w + kx) in_c + i] = x[iy][ix][i],  iy = oy stride_h - pad_top + ky dil_h,
 *                                              ix = ox stride_w - pad_left + kx dil_w
 * with v = pad_value = -in_offset (the input zero point) for taps in the padding.
 * As for ff_dense_s8 (ff_pairs.h), the converter folds the input offset into the bias and
 * prepares one requantization record per channel, rec[o] = {bias'[o], 2 mult[o], k, left}:
 *   bias'[o] = bias[o] + in_offset * sum_c w[o][c]                        modulo 2^32
 *   acc[o]   = bias'[o] + S[o],   S[o] = sum over the stored nonzeros of v[c] * w[o][c]
 *   y[o]     = ff_requant_pre(acc[o], rec[o], out_offset, act_min, act_max)
 * A padded tap adds pad_value * w = -in_offset * w, which cancels its share of bias', so
 * Conv2d's padding gives exactly TFLM's "taps outside the image contribute nothing". S is
 * exact in int32: |v w| <= 2^14 and C <= FF_SPARSE_MAX_C = 2^16 products, so |S| <= 2^30;
 * only its sum with bias' wraps, as the int32 accumulator does. A channel of multiplier 0
 * (whose stored weights need not be zero) has the record {0, 0, 1, 0}: with k = 1,
 * ff_requant_pre rounds any |v| < 2^31 to 0, so y[o] = clamp(out_offset), ff_mbqm's 0.
 *
 * Row formats (w[o] for o < R = out_features or out_c, C columns; values in the weights'
 * storage: int8_t, or for int4 a stream of nibbles, element e in the low nibble of byte e / 2
 * when e is even and the high one when odd, ff_s4_at):
 *   bitmask   mask: R rows of ceil(C / 8) bytes, bit c % 8 of byte c / 8 set when w[o][c] != 0;
 *             values: the nonzeros row by row, in column order.
 *   csr       row_ptr[R + 1] (int32): row o's nonzeros are entries row_ptr[o] .. row_ptr[o+1]-1
 *             of col_idx (uint8_t when C <= 256: the _csr kernels; uint16_t when C <= 65536:
 *             _csr16) and values, columns ascending.
 *   bcsr      int8 weights only; blocks of 4 rows x 1 column: the rows in G = ceil(R / 4)
 *             groups of four (the last one completed by zero rows, which have no output).
 *             block_ptr[G + 1] (int32): group g's columns are entries block_ptr[g] ..
 *             block_ptr[g+1] - 1 of col_idx (uint8_t when C <= 256: _bcsr; uint16_t when C <=
 *             65536: _bcsr16), ascending, every column where one of the group's rows is
 *             nonzero, an odd count completed by its last column again (weights 0), so the
 *             count is even. values (int8_t, 4 per entry, the array 4-byte aligned): entries
 *             2j, 2j+1 (columns c0, c1) of group g hold, from values + 4 (block_ptr[g] + 2j),
 *             w(0,c0) w(1,c0) w(0,c1) w(1,c1) w(2,c0) w(3,c0) w(2,c1) w(3,c1), w(k, c) =
 *             w[4g + k][c]: each word is two rows of the pair, split by SXTB16 into halfword
 *             pairs for SMLAD (ff_sparse_block.h).
 *   nm        N:M with n = p->n slots per group of m = p->m columns, G = ceil(C / m) groups per
 *             row (the last one padded with zero columns): slot s of group g of row o holds
 *             value values[(o G + g) n + s] at column g m + field((g n + s), row o), the
 *             fields being p->bits-bit column indices in a bit stream per row, each row
 *             starting on a byte (ceil(G n bits / 8) bytes per row). Spare slots hold zeros.
 *   codebook  table: the distinct values (int8_t, or int4 nibbles); indices: one p->bits-bit
 *             field per weight, the whole tensor in C order as one bit stream (rows are not
 *             byte aligned): w[o][c] = table[field(o C + c)].
 * Bit streams: field j of a b-bit stream (b in 1, 2, 4, 8) is bits (j b) % 8 .. (j b) % 8 +
 * b - 1 of byte (j b) / 8 (ff_sparse_field).
 *
 * Kernels: ff_dense_<in>[_<w>]_<format> and ff_conv2d_<in>[_<w>]_<format>, with <in> = s8,
 * <w> = s4 for int4 weights, <format> in bitmask, csr, csr16, bcsr, bcsr16 (int8 only), nm,
 * codebook. The Conv2d kernels gather each output pixel's patch into scratch (the caller's, C
 * bytes) unless it is one contiguous run of x inside the image (k_h = 1 and k_w = 1 or dil_w
 * = 1, the window clear of the padding; a layer all of whose patches are such, k_h = 1 and
 * k_w = 1 or dil_w = 1 without padding, may pass a null scratch), then compute as Dense does.
 * No kernel may write its output over its input. */
#ifndef FF_SPARSE_H
#define FF_SPARSE_H

#include <stdint.h>

#include "ff_fixed.h"
#include "ff_packed.h"

/* Columns of a row view at most: keeps S exact in int32 (see above). */
#define FF_SPARSE_MAX_C 65536L

typedef struct {
    int32_t rows;         /* input vectors: the product of x's leading dimensions */
    int32_t in_features;  /* C */
    int32_t out_features; /* R */
    int32_t out_offset;   /* y zero point */
    int32_t act_min;
    int32_t act_max;
    int32_t n, m;         /* nm: slots and columns per group (0 for the other formats) */
    int32_t bits;         /* nm, codebook: bits per index field (1, 2, 4 or 8) */
} ff_dense_sparse_params;

typedef struct {
    int32_t batches, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t pad_value;    /* x zero point (-in_offset): what a tap in the padding reads */
    int32_t out_offset;   /* y zero point */
    int32_t act_min;
    int32_t act_max;
    int32_t n, m;         /* nm */
    int32_t bits;         /* nm, codebook */
} ff_conv2d_sparse_params;

/* -- Dense ------------------------------------------------------------------------------- */
void ff_dense_s8_bitmask(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                         FF_CONST uint8_t *mask, FF_CONST int8_t *values,
                         FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_s4_bitmask(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                            FF_CONST uint8_t *mask, FF_CONST uint8_t *values,
                            FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_csr(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                     FF_CONST int32_t *row_ptr, FF_CONST uint8_t *col_idx,
                     FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_csr16(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                       FF_CONST int32_t *row_ptr, FF_CONST uint16_t *col_idx,
                       FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_bcsr(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                      FF_CONST int32_t *block_ptr, FF_CONST uint8_t *col_idx,
                      FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_bcsr16(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                        FF_CONST int32_t *block_ptr, FF_CONST uint16_t *col_idx,
                        FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_s4_csr(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                        FF_CONST int32_t *row_ptr, FF_CONST uint8_t *col_idx,
                        FF_CONST uint8_t *values, FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_s4_csr16(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                          FF_CONST int32_t *row_ptr, FF_CONST uint16_t *col_idx,
                          FF_CONST uint8_t *values, FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_nm(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                    FF_CONST uint8_t *indices, FF_CONST int8_t *values, FF_CONST int32_t *rec,
                    int8_t *y);
void ff_dense_s8_s4_nm(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                       FF_CONST uint8_t *indices, FF_CONST uint8_t *values,
                       FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_codebook(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                          FF_CONST int8_t *table, FF_CONST uint8_t *indices,
                          FF_CONST int32_t *rec, int8_t *y);
void ff_dense_s8_s4_codebook(FF_CONST ff_dense_sparse_params *p, const int8_t *x,
                             FF_CONST uint8_t *table, FF_CONST uint8_t *indices,
                             FF_CONST int32_t *rec, int8_t *y);

/* -- Conv2d (groups = 1); scratch: at least k_h * k_w * in_c bytes ------------------------ */
void ff_conv2d_s8_bitmask(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                          FF_CONST uint8_t *mask, FF_CONST int8_t *values,
                          FF_CONST int32_t *rec, int8_t *y, int8_t *scratch);
void ff_conv2d_s8_s4_bitmask(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                             FF_CONST uint8_t *mask, FF_CONST uint8_t *values,
                             FF_CONST int32_t *rec, int8_t *y, int8_t *scratch);
void ff_conv2d_s8_csr(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                      FF_CONST int32_t *row_ptr, FF_CONST uint8_t *col_idx,
                      FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y,
                      int8_t *scratch);
void ff_conv2d_s8_csr16(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                        FF_CONST int32_t *row_ptr, FF_CONST uint16_t *col_idx,
                        FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y,
                        int8_t *scratch);
void ff_conv2d_s8_bcsr(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                       FF_CONST int32_t *block_ptr, FF_CONST uint8_t *col_idx,
                       FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y,
                       int8_t *scratch);
void ff_conv2d_s8_bcsr16(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                         FF_CONST int32_t *block_ptr, FF_CONST uint16_t *col_idx,
                         FF_CONST int8_t *values, FF_CONST int32_t *rec, int8_t *y,
                         int8_t *scratch);
void ff_conv2d_s8_s4_csr(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                         FF_CONST int32_t *row_ptr, FF_CONST uint8_t *col_idx,
                         FF_CONST uint8_t *values, FF_CONST int32_t *rec, int8_t *y,
                         int8_t *scratch);
void ff_conv2d_s8_s4_csr16(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                           FF_CONST int32_t *row_ptr, FF_CONST uint16_t *col_idx,
                           FF_CONST uint8_t *values, FF_CONST int32_t *rec, int8_t *y,
                           int8_t *scratch);
void ff_conv2d_s8_nm(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                     FF_CONST uint8_t *indices, FF_CONST int8_t *values,
                     FF_CONST int32_t *rec, int8_t *y, int8_t *scratch);
void ff_conv2d_s8_s4_nm(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                        FF_CONST uint8_t *indices, FF_CONST uint8_t *values,
                        FF_CONST int32_t *rec, int8_t *y, int8_t *scratch);
void ff_conv2d_s8_codebook(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                           FF_CONST int8_t *table, FF_CONST uint8_t *indices,
                           FF_CONST int32_t *rec, int8_t *y, int8_t *scratch);
void ff_conv2d_s8_s4_codebook(FF_CONST ff_conv2d_sparse_params *p, const int8_t *x,
                              FF_CONST uint8_t *table, FF_CONST uint8_t *indices,
                              FF_CONST int32_t *rec, int8_t *y, int8_t *scratch);

#endif /* FF_SPARSE_H */
