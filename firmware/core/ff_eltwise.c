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

static FF_INLINE_BODY void minmax_s8(FF_CONST ff_minmax_params *p, const int8_t *a,
                                     const int8_t *b, int8_t *y, int is_max) {
    const int32_t n = element_count(p->shape);
    bcast_pos q = {{0, 0, 0, 0}, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        y[i] = (int8_t)pick(a[q.ia], b[q.ib], is_max);
        bcast_step(p->shape, p->a_stride, p->b_stride, &q);
    }
}

static FF_INLINE_BODY void minmax_s8_c(FF_CONST ff_minmax_params *p, const int8_t *x,
                                       FF_CONST int8_t *c, int8_t *y, int is_max) {
    const int32_t n = element_count(p->shape);
    const int first = p->const_first != 0;
    bcast_pos q = {{0, 0, 0, 0}, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        const int32_t a = first ? c[q.ia] : x[q.ia];
        const int32_t b = first ? x[q.ib] : c[q.ib];
        y[i] = (int8_t)pick(a, b, is_max);
        bcast_step(p->shape, p->a_stride, p->b_stride, &q);
    }
}

static FF_INLINE_BODY void minmax_s16(FF_CONST ff_minmax_params *p, const int16_t *a,
                                      const int16_t *b, int16_t *y, int is_max) {
    const int32_t n = element_count(p->shape);
    bcast_pos q = {{0, 0, 0, 0}, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        y[i] = (int16_t)pick(a[q.ia], b[q.ib], is_max);
        bcast_step(p->shape, p->a_stride, p->b_stride, &q);
    }
}

static FF_INLINE_BODY void minmax_s16_c(FF_CONST ff_minmax_params *p, const int16_t *x,
                                        FF_CONST int16_t *c, int16_t *y, int is_max) {
    const int32_t n = element_count(p->shape);
    const int first = p->const_first != 0;
    bcast_pos q = {{0, 0, 0, 0}, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        const int32_t a = first ? c[q.ia] : x[q.ia];
        const int32_t b = first ? x[q.ib] : c[q.ib];
        y[i] = (int16_t)pick(a, b, is_max);
        bcast_step(p->shape, p->a_stride, p->b_stride, &q);
    }
}

void ff_maximum_s8(FF_CONST ff_minmax_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
    minmax_s8(p, a, b, y, 1);
}

void ff_minimum_s8(FF_CONST ff_minmax_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
    minmax_s8(p, a, b, y, 0);
}

void ff_maximum_s8_c(FF_CONST ff_minmax_params *p, const int8_t *x, FF_CONST int8_t *c,
                     int8_t *y) {
    minmax_s8_c(p, x, c, y, 1);
}

void ff_minimum_s8_c(FF_CONST ff_minmax_params *p, const int8_t *x, FF_CONST int8_t *c,
                     int8_t *y) {
    minmax_s8_c(p, x, c, y, 0);
}

void ff_maximum_s16(FF_CONST ff_minmax_params *p, const int16_t *a, const int16_t *b,
                    int16_t *y) {
    minmax_s16(p, a, b, y, 1);
}

void ff_minimum_s16(FF_CONST ff_minmax_params *p, const int16_t *a, const int16_t *b,
                    int16_t *y) {
    minmax_s16(p, a, b, y, 0);
}

void ff_maximum_s16_c(FF_CONST ff_minmax_params *p, const int16_t *x, FF_CONST int16_t *c,
                      int16_t *y) {
    minmax_s16_c(p, x, c, y, 1);
}

void ff_minimum_s16_c(FF_CONST ff_minmax_params *p, const int16_t *x, FF_CONST int16_t *c,
                      int16_t *y) {
    minmax_s16_c(p, x, c, y, 0);
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
