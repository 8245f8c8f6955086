/* Elementwise binary kernels; the math is in ff_eltwise.h.
 *
 * The output is walked in order along runs of its innermost dimension, each operand stepping by
 * its stride there (0 where it broadcasts), so one loop serves every broadcast pattern and reads
 * each operand element where it lies. (The int16 ADD and SUB still carry an odometer per
 * element.)
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

/* -- The int8 ADD, SUB and MUL kernels ------------------------------------------------------
 *
 * Each ff_mbqm(_smaller_than_one) of the formulas is evaluated as ff_rq_apply does (ff_fixed.h,
 * whose comment has the proof, steps 1 and 2): with l = max(s, 0) and r = max(-s, 0),
 *   mbqm(x * 2^pre, m, s) = (2h + 2^r - [h < 0]) >> (r + 1),   h = SMMULR(x * 2^(pre+l+1), m),
 * exact when |x| * 2^(pre+l) <= 2^29 (then |h| <= 2^29) and r <= 29 (then 2h + 2^r fits
 * int32). For ADD and SUB (pre = left_shift = 20, l = 0)
 * |x| = |a + a_offset| <= 255 and the sum of the two scaled operands stays below 2^29 as well;
 * for MUL (pre = 0) |x| = |(a + a_offset) (b + b_offset)| < 2^16 allows l <= 13. The kernel
 * checks r (and MUL's l) once per call and otherwise runs the formulas as written.
 * The output is walked run by run along its innermost dimension, so the broadcast bookkeeping is
 * per run, not per element. */
typedef struct {
    int32_t mult, lsh, rnd, rsh;
} elt_rq;

/* mbqm(x * 2^pre, mult, shift) as prepared above; 0 when r is out of range. */
static int elt_prep(elt_rq *q, int32_t mult, int32_t shift, int32_t pre) {
    const int32_t r = shift < 0 ? -shift : 0;
    q->mult = mult;
    q->lsh = (shift > 0 ? shift : 0) + pre + 1;
    q->rsh = r + 1;
    q->rnd = r <= 29 ? (int32_t)1 << r : 0;
    return r <= 29;
}

static inline int32_t elt_apply(int32_t x, const elt_rq *q) {
    const int32_t h = ff_smmulr(ff_shl32_wrap(x, (int)q->lsh), q->mult);
    return ff_asr32(2 * h + q->rnd - (h < 0 ? 1 : 0), (int)q->rsh);
}

enum { ELT_ADD, ELT_SUB, ELT_MUL };

/* Where the operands come from: both activations, or a (or b) from constant memory. */
enum { ELT_XX, ELT_CX, ELT_XC };

/* One body for the six int8 ADD/SUB/MUL kernels: op and src are constants at each call. */
static FF_INLINE_BODY void arith_s8(FF_CONST int32_t *shape, FF_CONST int32_t *sa,
                                    FF_CONST int32_t *sb, const int8_t *xa, const int8_t *xb,
                                    FF_CONST int8_t *c, int8_t *y, const elt_rq *q,
                                    int32_t ao, int32_t bo, int32_t zo, int32_t lo, int32_t hi,
                                    int op, int src) {
    const int32_t n3 = shape[3], sa3 = sa[3], sb3 = sb[3];
    int32_t yo = 0;
    for (int32_t i0 = 0; i0 < shape[0]; i0++) {
        for (int32_t i1 = 0; i1 < shape[1]; i1++) {
            for (int32_t i2 = 0; i2 < shape[2]; i2++) {
                int32_t ia = i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
                int32_t ib = i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
                for (int32_t i3 = 0; i3 < n3; i3++, ia += sa3, ib += sb3, yo++) {
                    const int32_t va = (src == ELT_CX ? c[ia] : xa[ia]) + ao;
                    const int32_t vb = (src == ELT_XC ? c[ib] : xb[ib]) + bo;
                    int32_t v;
                    if (op == ELT_MUL) {
                        v = elt_apply(va * vb, q);
                    } else {
                        const int32_t wa = elt_apply(va, q), wb = elt_apply(vb, q + 1);
                        v = elt_apply(op == ELT_SUB ? wa - wb : wa + wb, q + 2);
                    }
                    y[yo] = (int8_t)ff_clamp(v + zo, lo, hi);
                }
            }
        }
    }
}

/* The formulas as written, element by element (for parameters outside the prepared range). */
static FF_INLINE_BODY void arith_s8_exact(FF_CONST ff_add_s8_params *pa,
                                          FF_CONST ff_mul_s8_params *pm, const int8_t *xa,
                                          const int8_t *xb, FF_CONST int8_t *c, int8_t *y,
                                          int op, int src) {
    FF_CONST int32_t *shape = op == ELT_MUL ? pm->shape : pa->shape;
    FF_CONST int32_t *sa = op == ELT_MUL ? pm->a_stride : pa->a_stride;
    FF_CONST int32_t *sb = op == ELT_MUL ? pm->b_stride : pa->b_stride;
    const int32_t n = element_count(shape);
    bcast_pos q = {{0, 0, 0, 0}, 0, 0};
    for (int32_t i = 0; i < n; i++) {
        const int32_t a = src == ELT_CX ? c[q.ia] : xa[q.ia];
        const int32_t b = src == ELT_XC ? c[q.ib] : xb[q.ib];
        if (op == ELT_MUL) {
            const int32_t prod = (a + pm->a_offset) * (b + pm->b_offset);
            y[i] = (int8_t)ff_clamp(ff_mbqm(prod, pm->mult, pm->shift) + pm->out_offset,
                                    pm->act_min, pm->act_max);
        } else {
            y[i] = (int8_t)add_elem(pa, a, b, op == ELT_SUB);
        }
        bcast_step(shape, sa, sb, &q);
    }
}

/* ADD/SUB: q[0], q[1] scale the operands, q[2] the sum. */
static FF_INLINE_BODY void add_s8(FF_CONST ff_add_s8_params *p, const int8_t *xa,
                                  const int8_t *xb, FF_CONST int8_t *c, int8_t *y, int op,
                                  int src) {
    elt_rq q[3];
    const int ok = elt_prep(&q[0], p->a_mult, p->a_shift, p->left_shift) &
                   elt_prep(&q[1], p->b_mult, p->b_shift, p->left_shift) &
                   elt_prep(&q[2], p->out_mult, p->out_shift, 0) & (p->left_shift <= 20);
    if (!ok) {
        arith_s8_exact(p, 0, xa, xb, c, y, op, src);
        return;
    }
    arith_s8(p->shape, p->a_stride, p->b_stride, xa, xb, c, y, q, p->a_offset, p->b_offset,
             p->out_offset, p->act_min, p->act_max, op, src);
}

static FF_INLINE_BODY void mul_s8(FF_CONST ff_mul_s8_params *p, const int8_t *xa,
                                  const int8_t *xb, FF_CONST int8_t *c, int8_t *y, int src) {
    elt_rq q;
    if (!elt_prep(&q, p->mult, p->shift, 0) || p->shift > 13) {
        arith_s8_exact(0, p, xa, xb, c, y, ELT_MUL, src);
        return;
    }
    arith_s8(p->shape, p->a_stride, p->b_stride, xa, xb, c, y, &q, p->a_offset, p->b_offset,
             p->out_offset, p->act_min, p->act_max, ELT_MUL, src);
}

void ff_add_s8(FF_CONST ff_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
    add_s8(p, a, b, 0, y, ELT_ADD, ELT_XX);
}

void ff_sub_s8(FF_CONST ff_add_s8_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
    add_s8(p, a, b, 0, y, ELT_SUB, ELT_XX);
}

void ff_add_s8_c(FF_CONST ff_add_s8_params *p, const int8_t *x, FF_CONST int8_t *c, int8_t *y) {
    if (p->const_first != 0) {
        add_s8(p, 0, x, c, y, ELT_ADD, ELT_CX);
    } else {
        add_s8(p, x, 0, c, y, ELT_ADD, ELT_XC);
    }
}

void ff_sub_s8_c(FF_CONST ff_add_s8_params *p, const int8_t *x, FF_CONST int8_t *c, int8_t *y) {
    if (p->const_first != 0) {
        add_s8(p, 0, x, c, y, ELT_SUB, ELT_CX);
    } else {
        add_s8(p, x, 0, c, y, ELT_SUB, ELT_XC);
    }
}

void ff_mul_s8(FF_CONST ff_mul_s8_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
    mul_s8(p, a, b, 0, y, ELT_XX);
}

void ff_mul_s8_c(FF_CONST ff_mul_s8_params *p, const int8_t *x, FF_CONST int8_t *c, int8_t *y) {
    if (p->const_first != 0) {
        mul_s8(p, 0, x, c, y, ELT_CX);
    } else {
        mul_s8(p, x, 0, c, y, ELT_XC);
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
    FF_CONST int32_t *shape = p->shape, *sa = p->a_stride, *sb = p->b_stride;
    const int32_t n3 = shape[3], sa3 = sa[3], sb3 = sb[3];
    const int first = p->const_first != 0;
    int32_t yo = 0;
    for (int32_t i0 = 0; i0 < shape[0]; i0++) {
        for (int32_t i1 = 0; i1 < shape[1]; i1++) {
            for (int32_t i2 = 0; i2 < shape[2]; i2++) {
                int32_t ia = i0 * sa[0] + i1 * sa[1] + i2 * sa[2];
                int32_t ib = i0 * sb[0] + i1 * sb[1] + i2 * sb[2];
                for (int32_t i3 = 0; i3 < n3; i3++, ia += sa3, ib += sb3, yo++) {
                    int32_t va, vb;
                    if (c == 0) {
                        va = load_elem(a, ia, size);
                        vb = load_elem(b, ib, size);
                    } else {
                        va = first ? load_const(c, ia, size) : load_elem(a, ia, size);
                        vb = first ? load_elem(a, ib, size) : load_const(c, ib, size);
                    }
                    const int32_t v = pick(va, vb, is_max);
                    if (size == 1) {
                        ((int8_t *)y)[yo] = (int8_t)v;
                    } else {
                        ((int16_t *)y)[yo] = (int16_t)v;
                    }
                }
            }
        }
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
