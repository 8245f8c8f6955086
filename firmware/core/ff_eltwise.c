/* Elementwise binary kernels; the math is in ff_eltwise.h.
 *
 * The output is walked in order while a small odometer keeps the two operands' offsets, so one
 * loop serves every broadcast pattern (and reads each operand element where it lies).
 */
#include "ff_eltwise.h"

typedef struct {
    int32_t i[4];
    int32_t ia, ib;
} bcast_pos;

static int32_t element_count(FF_CONST int32_t *shape) {
    return shape[0] * shape[1] * shape[2] * shape[3];
}

/* Advance to the next output element: bump the innermost index, carrying outwards. */
static void bcast_step(FF_CONST int32_t *shape, FF_CONST int32_t *sa, FF_CONST int32_t *sb,
                       bcast_pos *q) {
    for (int k = 3; k >= 0; k--) {
        q->ia += sa[k];
        q->ib += sb[k];
        if (++q->i[k] < shape[k]) {
            return;
        }
        q->ia -= sa[k] * shape[k];
        q->ib -= sb[k] * shape[k];
        q->i[k] = 0;
    }
}

/* One ADD/SUB output before the cast to the output type (already clamped into its range). */
static int32_t add_elem(FF_CONST ff_add_s8_params *p, int32_t a, int32_t b, int sub) {
    const int32_t scale = (int32_t)1 << p->left_shift;
    const int32_t wa = ff_mbqm_smaller_than_one((a + p->a_offset) * scale, p->a_mult, p->a_shift);
    const int32_t wb = ff_mbqm_smaller_than_one((b + p->b_offset) * scale, p->b_mult, p->b_shift);
    const int32_t raw = sub ? wa - wb : wa + wb;
    const int32_t out = ff_mbqm_smaller_than_one(raw, p->out_mult, p->out_shift) + p->out_offset;
    return ff_clamp(out, p->act_min, p->act_max);
}

static int8_t mul_elem(FF_CONST ff_mul_s8_params *p, int32_t a, int32_t b) {
    const int32_t prod = (a + p->a_offset) * (b + p->b_offset);
    const int32_t out = ff_mbqm(prod, p->mult, p->shift) + p->out_offset;
    return (int8_t)ff_clamp(out, p->act_min, p->act_max);
}

static void add_run(FF_CONST ff_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *y,
                    int sub) {
    const int32_t n = element_count(p->shape);
    bcast_pos q = {{0, 0, 0, 0}, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        y[i] = (int8_t)add_elem(p, a[q.ia], b[q.ib], sub);
        bcast_step(p->shape, p->a_stride, p->b_stride, &q);
    }
}

static void add_run_c(FF_CONST ff_add_s8_params *p, const int8_t *x, FF_CONST int8_t *c,
                      int8_t *y, int sub) {
    const int32_t n = element_count(p->shape);
    const int first = p->const_first != 0;
    bcast_pos q = {{0, 0, 0, 0}, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        const int32_t a = first ? c[q.ia] : x[q.ia];
        const int32_t b = first ? x[q.ib] : c[q.ib];
        y[i] = (int8_t)add_elem(p, a, b, sub);
        bcast_step(p->shape, p->a_stride, p->b_stride, &q);
    }
}

void ff_add_s8(FF_CONST ff_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
    add_run(p, a, b, y, 0);
}

void ff_sub_s8(FF_CONST ff_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
    add_run(p, a, b, y, 1);
}

void ff_add_s8_c(FF_CONST ff_add_s8_params *p, const int8_t *x, FF_CONST int8_t *c, int8_t *y) {
    add_run_c(p, x, c, y, 0);
}

void ff_sub_s8_c(FF_CONST ff_add_s8_params *p, const int8_t *x, FF_CONST int8_t *c, int8_t *y) {
    add_run_c(p, x, c, y, 1);
}

void ff_mul_s8(FF_CONST ff_mul_s8_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
    const int32_t n = element_count(p->shape);
    bcast_pos q = {{0, 0, 0, 0}, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        y[i] = mul_elem(p, a[q.ia], b[q.ib]);
        bcast_step(p->shape, p->a_stride, p->b_stride, &q);
    }
}

void ff_mul_s8_c(FF_CONST ff_mul_s8_params *p, const int8_t *x, FF_CONST int8_t *c, int8_t *y) {
    const int32_t n = element_count(p->shape);
    const int first = p->const_first != 0;
    bcast_pos q = {{0, 0, 0, 0}, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        const int32_t a = first ? c[q.ia] : x[q.ia];
        const int32_t b = first ? x[q.ib] : c[q.ib];
        y[i] = mul_elem(p, a, b);
        bcast_step(p->shape, p->a_stride, p->b_stride, &q);
    }
}

static void add_run_s16(FF_CONST ff_add_s16_params *p, const int16_t *a, const int16_t *b,
                        int16_t *y, int sub) {
    const int32_t n = element_count(p->shape);
    bcast_pos q = {{0, 0, 0, 0}, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        y[i] = (int16_t)add_elem(p, a[q.ia], b[q.ib], sub);
        bcast_step(p->shape, p->a_stride, p->b_stride, &q);
    }
}

static void add_run_s16_c(FF_CONST ff_add_s16_params *p, const int16_t *x, FF_CONST int16_t *c,
                          int16_t *y, int sub) {
    const int32_t n = element_count(p->shape);
    const int first = p->const_first != 0;
    bcast_pos q = {{0, 0, 0, 0}, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        const int32_t a = first ? c[q.ia] : x[q.ia];
        const int32_t b = first ? x[q.ib] : c[q.ib];
        y[i] = (int16_t)add_elem(p, a, b, sub);
        bcast_step(p->shape, p->a_stride, p->b_stride, &q);
    }
}

/* Maximum / minimum: is_max selects the comparison (a constant at every call, folded by
 * FF_INLINE_BODY). The values are compared as stored: no offset, no rescale. */
static int32_t pick(int32_t a, int32_t b, int is_max) {
    if (is_max) {
        return a > b ? a : b;
    }
    return a < b ? a : b;
}

/* Element i of an int8 (size 1) or int16 (size 2) array, in RAM or in constant memory. */
static inline int32_t load_elem(const void *v, int32_t i, int size) {
    return size == 1 ? ((const int8_t *)v)[i] : ((const int16_t *)v)[i];
}

static inline int32_t load_const(FF_CONST void *v, int32_t i, int size) {
    return size == 1 ? ((FF_CONST int8_t *)v)[i] : ((FF_CONST int16_t *)v)[i];
}

/* One body for every maximum/minimum kernel: element size, comparison and operand kind are
 * constants at each call (FF_INLINE_BODY specializes them). With c == 0 both operands are
 * activations (a, b); otherwise a is the activation and c the constant, first when
 * const_first. */
static FF_INLINE_BODY void minmax(FF_CONST ff_minmax_params *p, const void *a, const void *b,
                                  FF_CONST void *c, void *y, int size, int is_max) {
    const int32_t n = element_count(p->shape);
    const int first = p->const_first != 0;
    bcast_pos q = {{0, 0, 0, 0}, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        int32_t va, vb;
        if (c == 0) {
            va = load_elem(a, q.ia, size);
            vb = load_elem(b, q.ib, size);
        } else {
            va = first ? load_const(c, q.ia, size) : load_elem(a, q.ia, size);
            vb = first ? load_elem(a, q.ib, size) : load_const(c, q.ib, size);
        }
        const int32_t v = pick(va, vb, is_max);
        if (size == 1) {
            ((int8_t *)y)[i] = (int8_t)v;
        } else {
            ((int16_t *)y)[i] = (int16_t)v;
        }
        bcast_step(p->shape, p->a_stride, p->b_stride, &q);
    }
}

void ff_maximum_s8(FF_CONST ff_minmax_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
    minmax(p, a, b, 0, y, 1, 1);
}

void ff_minimum_s8(FF_CONST ff_minmax_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
    minmax(p, a, b, 0, y, 1, 0);
}

void ff_maximum_s8_c(FF_CONST ff_minmax_params *p, const int8_t *x, FF_CONST int8_t *c,
                     int8_t *y) {
    minmax(p, x, 0, c, y, 1, 1);
}

void ff_minimum_s8_c(FF_CONST ff_minmax_params *p, const int8_t *x, FF_CONST int8_t *c,
                     int8_t *y) {
    minmax(p, x, 0, c, y, 1, 0);
}

void ff_maximum_s16(FF_CONST ff_minmax_params *p, const int16_t *a, const int16_t *b,
                    int16_t *y) {
    minmax(p, a, b, 0, y, 2, 1);
}

void ff_minimum_s16(FF_CONST ff_minmax_params *p, const int16_t *a, const int16_t *b,
                    int16_t *y) {
    minmax(p, a, b, 0, y, 2, 0);
}

void ff_maximum_s16_c(FF_CONST ff_minmax_params *p, const int16_t *x, FF_CONST int16_t *c,
                      int16_t *y) {
    minmax(p, x, 0, c, y, 2, 1);
}

void ff_minimum_s16_c(FF_CONST ff_minmax_params *p, const int16_t *x, FF_CONST int16_t *c,
                      int16_t *y) {
    minmax(p, x, 0, c, y, 2, 0);
}

void ff_add_s16(FF_CONST ff_add_s16_params *p, const int16_t *a, const int16_t *b, int16_t *y) {
    add_run_s16(p, a, b, y, 0);
}

void ff_add_s16_c(FF_CONST ff_add_s16_params *p, const int16_t *x, FF_CONST int16_t *c,
                  int16_t *y) {
    add_run_s16_c(p, x, c, y, 0);
}

void ff_sub_s16(FF_CONST ff_add_s16_params *p, const int16_t *a, const int16_t *b, int16_t *y) {
    add_run_s16(p, a, b, y, 1);
}

void ff_sub_s16_c(FF_CONST ff_add_s16_params *p, const int16_t *x, FF_CONST int16_t *c,
                  int16_t *y) {
    add_run_s16_c(p, x, c, y, 1);
}
