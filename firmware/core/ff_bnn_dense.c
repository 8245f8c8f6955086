/* Binary dense layers by blocks of 32 output channels: bit-sliced lane counters fed by a
 * carry-save adder tree over the listed inputs. The layout and the math are in ff_bnn.h. */
#include "ff_bnn.h"

#include "ff_bnn_bits.h"
#include "ff_pairs.h"

#define FF_B1_GROUP 16 /* words per adder tree; the index list is padded to a multiple */

/* The full adder of three bit vectors, bitwise: *lo = a + b + c mod 2, *hi = the carry. */
static inline void ff_csa(uint32_t *hi, uint32_t *lo, uint32_t a, uint32_t b, uint32_t c) {
    const uint32_t u = a ^ b;
    *hi = (a & b) | (u & c);
    *lo = u ^ c;
}

/* The indices of x's +1 inputs, or of its -1 inputs when more than half are +1 (then *inv is
 * all ones), into idx, padded with k (the blocks' zero word) to a multiple of FF_B1_GROUP
 * (*padded entries). Returns the count before padding, at most k / 2. */
static int32_t ff_b1_list(const uint32_t *x, int32_t k, uint16_t *idx, int32_t *padded,
                          uint32_t *inv) {
    const int32_t kw = ff_b1_words(k);
    const uint32_t last = ff_b1_last_mask(k);
    int32_t plus = 0;
    for (int32_t i = 0; i < kw; i++) {
        plus += ff_popcount32(i == kw - 1 ? x[i] & last : x[i]);
    }
    const uint32_t flip = 2 * plus > k ? UINT32_C(0xFFFFFFFF) : 0U;
    int32_t n = 0;
    for (int32_t i = 0; i < kw; i++) {
        uint32_t v = x[i] ^ flip;
        if (i == kw - 1) {
            v &= last;
        }
        const int32_t base = i * FF_WORD_BITS;
        while (v != 0U) {
            idx[n++] = (uint16_t)(base + ff_ctz32(v));
            v &= v - 1U;
        }
    }
    const int32_t count = n;
    while (n % FF_B1_GROUP != 0) {
        idx[n++] = (uint16_t)k;
    }
    *padded = n;
    *inv = flip;
    return count;
}

/* The 32 lane counters (planes[0 .. n_planes), bit-sliced) plus, lane-wise, the bits of the
 * block's words wb[idx[i]] for i < n, n a multiple of FF_B1_GROUP. The sum must fit the planes
 * (the carry out of the top plane is dropped). Harley-Seal: the tree turns 16 words into one
 * word of sixteens while updating ones, twos, fours and eights; the sixteens ripple upward. */
static void ff_b1_count(FF_CONST uint32_t *wb, const uint16_t *idx, int32_t n, uint32_t *planes,
                        int32_t n_planes) {
    uint32_t ones = planes[0], twos = planes[1], fours = planes[2], eights = planes[3];
    uint32_t *up = planes + 4;
    const int32_t n_up = n_planes - 4;
    for (int32_t i = 0; i < n; i += FF_B1_GROUP, idx += FF_B1_GROUP) {
        uint32_t twos_a, twos_b, fours_a, fours_b, eights_a, eights_b, sixteens;
        ff_csa(&twos_a, &ones, ones, wb[idx[0]], wb[idx[1]]);
        ff_csa(&twos_b, &ones, ones, wb[idx[2]], wb[idx[3]]);
        ff_csa(&fours_a, &twos, twos, twos_a, twos_b);
        ff_csa(&twos_a, &ones, ones, wb[idx[4]], wb[idx[5]]);
        ff_csa(&twos_b, &ones, ones, wb[idx[6]], wb[idx[7]]);
        ff_csa(&fours_b, &twos, twos, twos_a, twos_b);
        ff_csa(&eights_a, &fours, fours, fours_a, fours_b);
        ff_csa(&twos_a, &ones, ones, wb[idx[8]], wb[idx[9]]);
        ff_csa(&twos_b, &ones, ones, wb[idx[10]], wb[idx[11]]);
        ff_csa(&fours_a, &twos, twos, twos_a, twos_b);
        ff_csa(&twos_a, &ones, ones, wb[idx[12]], wb[idx[13]]);
        ff_csa(&twos_b, &ones, ones, wb[idx[14]], wb[idx[15]]);
        ff_csa(&fours_b, &twos, twos, twos_a, twos_b);
        ff_csa(&eights_b, &fours, fours, fours_a, fours_b);
        ff_csa(&sixteens, &eights, eights, eights_a, eights_b);
        for (int32_t j = 0; sixteens != 0U && j < n_up; j++) {
            const uint32_t carry = up[j] & sixteens;
            up[j] ^= sixteens;
            sixteens = carry;
        }
    }
    planes[0] = ones;
    planes[1] = twos;
    planes[2] = fours;
    planes[3] = eights;
}

void ff_dense_b1(FF_CONST ff_dense_b1_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                 FF_CONST uint32_t *thr, uint32_t *y, uint16_t *scratch) {
    const int32_t k = p->in_features, n_planes = p->planes;
    const int32_t kw = ff_b1_words(k), blocks = ff_b1_words(p->out_features);
    const int32_t z = k / 4 + 1; /* Z = floor(N / 2) + 1, N = floor(K / 2) */
    const uint32_t last = ff_b1_last_mask(p->out_features);
    for (int32_t r = 0; r < p->rows; r++, x += kw, y += blocks) {
        int32_t padded;
        uint32_t inv;
        const int32_t n = ff_b1_list(x, k, scratch, &padded, &inv);
        const uint32_t m = (uint32_t)(n / 2 + z);
        FF_CONST uint32_t *wb = w;
        FF_CONST uint32_t *tb = inv ? thr + n_planes + 1 : thr;
        for (int32_t b = 0; b < blocks; b++, wb += k + 1, tb += 2 * (n_planes + 1)) {
            uint32_t planes[FF_B1_MAX_PLANES];
            for (int32_t j = 0; j < n_planes; j++) {
                planes[j] = tb[j]; /* the counters start at a' */
            }
            ff_b1_count(wb, scratch, padded, planes, n_planes);
            /* W > M and W == M lane-wise, from the top plane down */
            uint32_t gt = 0U, eq = UINT32_C(0xFFFFFFFF);
            for (int32_t j = n_planes - 1; j >= 0; j--) {
                if ((m >> j) & 1U) {
                    eq &= planes[j];
                } else {
                    gt |= eq & planes[j];
                    eq &= ~planes[j];
                }
            }
            const uint32_t tie = (n & 1) ? tb[n_planes] : UINT32_C(0xFFFFFFFF);
            const uint32_t out = (gt | (eq & tie)) ^ inv;
            y[b] = b == blocks - 1 ? out & last : out;
        }
    }
}

void ff_dense_b1_s8(FF_CONST ff_dense_b1_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                    FF_CONST int32_t *rec, int8_t *y, uint16_t *scratch) {
    const int32_t k = p->in_features, o_n = p->out_features, n_planes = p->planes;
    const int32_t kw = ff_b1_words(k), blocks = ff_b1_words(o_n);
    const int narrow = p->act_min > -128 || p->act_max < 127;
    for (int32_t r = 0; r < p->rows; r++, x += kw, y += o_n) {
        int32_t padded;
        uint32_t inv;
        const int32_t n = ff_b1_list(x, k, scratch, &padded, &inv);
        FF_CONST uint32_t *wb = w;
        for (int32_t b = 0; b < blocks; b++, wb += k + 1) {
            uint32_t planes[FF_B1_MAX_PLANES] = {0};
            ff_b1_count(wb, scratch, padded, planes, n_planes);
            const int32_t lanes = o_n - b * FF_WORD_BITS;
            /* Lanes g, g + 8, g + 16, g + 24 as the bytes of lo (planes 0-7) and hi (8-15) */
            for (int32_t g = 0; g < 8 && g < lanes; g++) {
                uint32_t lo = 0U, hi = 0U;
                for (int32_t j = 0; j < n_planes; j++) {
                    const uint32_t t = (planes[j] >> g) & UINT32_C(0x01010101);
                    if (j < 8) {
                        lo |= t << j;
                    } else {
                        hi |= t << (j - 8);
                    }
                }
                for (int32_t lane = g; lane < lanes && lane < FF_WORD_BITS; lane += 8) {
                    const int32_t v = (int32_t)((lo & 0xFFU) | ((hi & 0xFFU) << 8));
                    const int32_t d = 4 * v - 2 * n;
                    const int32_t o = b * FF_WORD_BITS + lane;
                    FF_CONST int32_t *q = rec + 5 * o;
                    const int32_t acc = inv ? ff_sub32(q[1], d) : ff_add32(q[0], d);
                    y[o] = ff_requant_pre(acc, q[2], q[3], q[4], p->out_offset, p->act_min,
                                          p->act_max, narrow);
                    lo >>= 8;
                    hi >>= 8;
                }
            }
        }
    }
}
