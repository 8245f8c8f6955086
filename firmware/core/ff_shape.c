/* Data-movement kernels; the layouts are in ff_shape.h.
 *
 * <string.h> is not used: the RISC-V toolchain is freestanding (no C library headers), so the
 * byte moves are plain loops, which compilers turn into their own block moves where they can.
 */
#include "ff_shape.h"

static void move_bytes(unsigned char *dst, const unsigned char *src, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        dst[i] = src[i];
    }
}

static void fill_s8(int8_t *dst, int8_t v, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        dst[i] = v;
    }
}

void ff_copy(int32_t nbytes, const void *x, void *y) {
    move_bytes((unsigned char *)y, (const unsigned char *)x, nbytes);
}

/* The transposes and strided slices share one gather body, specialized by the constant element
 * size (1, 2 or 4 bytes) at each call (FF_INLINE_BODY: no size test is left in the loops). It
 * walks y contiguously and gathers from x through the per-dimension strides (negative for a
 * slice walking backwards), adding rather than multiplying in the inner loop. Elements are
 * moved as integers of their width, bit for bit. */
static inline void move_elem(void *y, int32_t yi, const void *x, int32_t xi, int size) {
    if (size == 1) {
        ((int8_t *)y)[yi] = ((const int8_t *)x)[xi];
    } else if (size == 2) {
        ((int16_t *)y)[yi] = ((const int16_t *)x)[xi];
    } else {
        ((int32_t *)y)[yi] = ((const int32_t *)x)[xi];
    }
}

static FF_INLINE_BODY void gather(FF_CONST int32_t *dims, FF_CONST int32_t *stride, int32_t start,
                                  const void *x, void *y, int size) {
    const int32_t d0 = dims[0], d1 = dims[1], d2 = dims[2], d3 = dims[3];
    const int32_t s0 = stride[0], s1 = stride[1], s2 = stride[2], s3 = stride[3];
    int32_t yo = 0;
    for (int32_t i0 = 0; i0 < d0; i0++) {
        for (int32_t i1 = 0; i1 < d1; i1++) {
            for (int32_t i2 = 0; i2 < d2; i2++) {
                int32_t xo = start + i0 * s0 + i1 * s1 + i2 * s2;
                for (int32_t i3 = 0; i3 < d3; i3++, xo += s3) {
                    move_elem(y, yo++, x, xo, size);
                }
            }
        }
    }
}

void ff_transpose_s8(FF_CONST ff_transpose_params *p, const int8_t *x, int8_t *y) {
    gather(p->out_dims, p->in_stride, 0, x, y, 1);
}

void ff_transpose_s16(FF_CONST ff_transpose_params *p, const int16_t *x, int16_t *y) {
    gather(p->out_dims, p->in_stride, 0, x, y, 2);
}

void ff_transpose_s32(FF_CONST ff_transpose_params *p, const int32_t *x, int32_t *y) {
    gather(p->out_dims, p->in_stride, 0, x, y, 4);
}

void ff_strided_slice_s8(FF_CONST ff_strided_slice_params *p, const int8_t *x, int8_t *y) {
    gather(p->out_dims, p->in_stride, p->start, x, y, 1);
}

void ff_strided_slice_s16(FF_CONST ff_strided_slice_params *p, const int16_t *x, int16_t *y) {
    gather(p->out_dims, p->in_stride, p->start, x, y, 2);
}

void ff_strided_slice_s32(FF_CONST ff_strided_slice_params *p, const int32_t *x, int32_t *y) {
    gather(p->out_dims, p->in_stride, p->start, x, y, 4);
}

void ff_concat(FF_CONST ff_concat_params *p, const void *x, void *y) {
    const unsigned char *src = (const unsigned char *)x;
    unsigned char *dst = (unsigned char *)y;
    const int32_t in_block = p->in_block, out_block = p->out_block, offset = p->offset;
    for (int32_t o = 0; o < p->outer; o++) {
        move_bytes(dst + o * out_block + offset, src + o * in_block, in_block);
    }
}

void ff_split(FF_CONST ff_split_params *p, const void *x, void *y) {
    const unsigned char *src = (const unsigned char *)x;
    unsigned char *dst = (unsigned char *)y;
    const int32_t in_block = p->in_block, out_block = p->out_block, offset = p->offset;
    for (int32_t o = 0; o < p->outer; o++) {
        move_bytes(dst + o * out_block, src + o * in_block + offset, out_block);
    }
}

/* Padding: the outer three dimensions select an output row of out_dims[3] elements; a row outside
 * the input in any of them is all fill, any other row is fill, one input row, fill. */
typedef struct {
    int32_t in[FF_SHAPE_MAX_DIMS], out[FF_SHAPE_MAX_DIMS], before[FF_SHAPE_MAX_DIMS];
} pad_geometry;

static pad_geometry pad_load(FF_CONST ff_pad_params *p) {
    pad_geometry g;
    for (int d = 0; d < FF_SHAPE_MAX_DIMS; d++) {
        g.in[d] = p->in_dims[d];
        g.out[d] = p->out_dims[d];
        g.before[d] = p->before[d];
    }
    return g;
}

/* Offset in x of input row (j0, j1, j2), or -1 when that row lies in the padding. */
static int32_t pad_row(const pad_geometry *g, int32_t i0, int32_t i1, int32_t i2) {
    const int32_t j0 = i0 - g->before[0], j1 = i1 - g->before[1], j2 = i2 - g->before[2];
    if (j0 < 0 || j0 >= g->in[0] || j1 < 0 || j1 >= g->in[1] || j2 < 0 || j2 >= g->in[2]) {
        return -1;
    }
    return ((j0 * g->in[1] + j1) * g->in[2] + j2) * g->in[3];
}

void ff_pad_s8(FF_CONST ff_pad_params *p, const int8_t *x, int8_t *y) {
    const pad_geometry g = pad_load(p);
    const int8_t fill = (int8_t)p->fill;
    const int32_t row = g.out[3], lead = g.before[3], n = g.in[3];
    const int32_t tail = row - lead - n;
    int32_t yo = 0;
    for (int32_t i0 = 0; i0 < g.out[0]; i0++) {
        for (int32_t i1 = 0; i1 < g.out[1]; i1++) {
            for (int32_t i2 = 0; i2 < g.out[2]; i2++, yo += row) {
                const int32_t xo = pad_row(&g, i0, i1, i2);
                if (xo < 0) {
                    fill_s8(y + yo, fill, row);
                } else {
                    fill_s8(y + yo, fill, lead);
                    for (int32_t i = 0; i < n; i++) {
                        y[yo + lead + i] = x[xo + i];
                    }
                    fill_s8(y + yo + lead + n, fill, tail);
                }
            }
        }
    }
}

void ff_pad_s16(FF_CONST ff_pad_params *p, const int16_t *x, int16_t *y) {
    const pad_geometry g = pad_load(p);
    const int16_t fill = (int16_t)p->fill;
    const int32_t row = g.out[3], lead = g.before[3], n = g.in[3];
    int32_t yo = 0;
    for (int32_t i0 = 0; i0 < g.out[0]; i0++) {
        for (int32_t i1 = 0; i1 < g.out[1]; i1++) {
            for (int32_t i2 = 0; i2 < g.out[2]; i2++, yo += row) {
                const int32_t xo = pad_row(&g, i0, i1, i2);
                int32_t k = 0;
                if (xo >= 0) {
                    for (; k < lead; k++) {
                        y[yo + k] = fill;
                    }
                    for (int32_t i = 0; i < n; i++, k++) {
                        y[yo + k] = x[xo + i];
                    }
                }
                for (; k < row; k++) {
                    y[yo + k] = fill;
                }
            }
        }
    }
}
