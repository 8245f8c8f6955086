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

/* Sixteen words wb[idx[0..15]] into the counters' four low planes (carry-save adds, the
 * Harley-Seal tree); returns the carries out of the eights (the sixteens). */
static inline uint32_t ff_b1_tree16(FF_CONST uint32_t *wb, const uint16_t *idx, uint32_t *ones,
                                    uint32_t *twos, uint32_t *fours, uint32_t *eights) {
    uint32_t twos_a, twos_b, fours_a, fours_b, eights_a, eights_b, sixteens;
    ff_csa(&twos_a, ones, *ones, wb[idx[0]], wb[idx[1]]);
    ff_csa(&twos_b, ones, *ones, wb[idx[2]], wb[idx[3]]);
    ff_csa(&fours_a, twos, *twos, twos_a, twos_b);
    ff_csa(&twos_a, ones, *ones, wb[idx[4]], wb[idx[5]]);
    ff_csa(&twos_b, ones, *ones, wb[idx[6]], wb[idx[7]]);
    ff_csa(&fours_b, twos, *twos, twos_a, twos_b);
    ff_csa(&eights_a, fours, *fours, fours_a, fours_b);
    ff_csa(&twos_a, ones, *ones, wb[idx[8]], wb[idx[9]]);
    ff_csa(&twos_b, ones, *ones, wb[idx[10]], wb[idx[11]]);
    ff_csa(&fours_a, twos, *twos, twos_a, twos_b);
    ff_csa(&twos_a, ones, *ones, wb[idx[12]], wb[idx[13]]);
    ff_csa(&twos_b, ones, *ones, wb[idx[14]], wb[idx[15]]);
    ff_csa(&fours_b, twos, *twos, twos_a, twos_b);
    ff_csa(&eights_b, fours, *fours, fours_a, fours_b);
    ff_csa(&sixteens, eights, *eights, eights_a, eights_b);
    return sixteens;
}

/* c added to the counter planes up[0 .. n) (bitwise ripple carry, stopping when no lane
 * carries). */
static inline void ff_b1_ripple(uint32_t *up, int32_t n, uint32_t c) {
    for (int32_t j = 0; c != 0U && j < n; j++) {
        const uint32_t carry = up[j] & c;
        up[j] ^= c;
        c = carry;
    }
}

/* The 32 lane counters planes[0 .. n_planes) (bit-sliced, n_planes >= 5) plus, lane-wise,
 * the bits of the block's words wb[idx[i]] for i < n, n a multiple of 16. The sum must fit
 * the planes (a carry out of the top plane is dropped). Two trees of 16 words and one more
 * carry-save add per 32 words keep ones .. sixteens in registers; the thirty-twos ripple
 * upward. (One call of the tree: compilers inline it.) */
static void ff_b1_count(FF_CONST uint32_t *wb, const uint16_t *idx, int32_t n, uint32_t *planes,
                        int32_t n_planes) {
    uint32_t ones = planes[0], twos = planes[1], fours = planes[2], eights = planes[3];
    uint32_t sixteens = planes[4];
    uint32_t *up = planes + 5;
    const int32_t n_up = n_planes - 5;
    uint32_t held = 0U; /* the sixteens of an odd tree, awaiting the next one's */
    for (int32_t i = 0; i < n; i += FF_B1_GROUP, idx += FF_B1_GROUP) {
        const uint32_t s = ff_b1_tree16(wb, idx, &ones, &twos, &fours, &eights);
        if ((i & FF_B1_GROUP) == 0) {
            held = s;
        } else {
            uint32_t thirty_twos;
            ff_csa(&thirty_twos, &sixteens, sixteens, held, s);
            ff_b1_ripple(up, n_up, thirty_twos);
        }
    }
    if ((n & FF_B1_GROUP) != 0) {
        ff_b1_ripple(up, n_up, sixteens & held);
        sixteens ^= held;
    }
    planes[0] = ones;
    planes[1] = twos;
    planes[2] = fours;
    planes[3] = eights;
    planes[4] = sixteens;
}

/* Swaps the bits of *a at the positions of m << d with those of *b at m. */
static inline void ff_swap_bits(uint32_t *a, uint32_t *b, int d, uint32_t m) {
    const uint32_t t = ((*a >> d) ^ *b) & m;
    *b ^= t;
    *a ^= t << d;
}

/* The 8 x 8 bit blocks of the words p[0 .. 8) transposed within each byte: afterwards byte q
 * of p[l] holds bit l of byte q of every p[j], as bit j. Three rounds of swaps of the
 * off-diagonal d x d blocks of rows r and r + d (d = 4, 2, 1). */
static inline void ff_transpose8x8(uint32_t *p) {
    const uint32_t m4 = UINT32_C(0x0F0F0F0F), m2 = UINT32_C(0x33333333);
    const uint32_t m1 = UINT32_C(0x55555555);
    ff_swap_bits(&p[0], &p[4], 4, m4);
    ff_swap_bits(&p[1], &p[5], 4, m4);
    ff_swap_bits(&p[2], &p[6], 4, m4);
    ff_swap_bits(&p[3], &p[7], 4, m4);
    ff_swap_bits(&p[0], &p[2], 2, m2);
    ff_swap_bits(&p[1], &p[3], 2, m2);
    ff_swap_bits(&p[4], &p[6], 2, m2);
    ff_swap_bits(&p[5], &p[7], 2, m2);
    ff_swap_bits(&p[0], &p[1], 1, m1);
    ff_swap_bits(&p[2], &p[3], 1, m1);
    ff_swap_bits(&p[4], &p[5], 1, m1);
    ff_swap_bits(&p[6], &p[7], 1, m1);
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
        FF_CONST uint32_t *tb = thr + ((inv ? 2 : 0) + (n & 1)) * n_planes;
        for (int32_t b = 0; b < blocks; b++, wb += k + 1, tb += 4 * n_planes) {
            uint32_t planes[FF_B1_MAX_PLANES];
            for (int32_t j = 0; j < n_planes; j++) {
                planes[j] = tb[j]; /* the counters start at a' + the tie */
            }
            ff_b1_count(wb, scratch, padded, planes, n_planes);
            /* W > M lane-wise: the carry out of W + (2^planes - 1 - M), plane by plane */
            uint32_t carry = 0U;
            for (int32_t j = 0; j < n_planes; j++) {
                carry = ((m >> j) & 1U) ? carry & planes[j] : carry | planes[j];
            }
            const uint32_t out = carry ^ inv;
            y[b] = b == blocks - 1 ? out & last : out;
        }
    }
}

void ff_dense_b1_s8(FF_CONST ff_dense_b1_params *p, const uint32_t *x, FF_CONST uint32_t *w,
                    FF_CONST int32_t *rec, int8_t *y, uint16_t *scratch) {
    const int32_t k = p->in_features, o_n = p->out_features, n_planes = p->planes;
    const int32_t kw = ff_b1_words(k), blocks = ff_b1_words(o_n);
    /* locals: the int8 stores below might alias *p for the compiler */
    const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
    const int narrow = act_min > -128 || act_max < 127;
    for (int32_t r = 0; r < p->rows; r++, x += kw, y += o_n) {
        int32_t padded;
        uint32_t inv;
        const int32_t n = ff_b1_list(x, k, scratch, &padded, &inv);
        FF_CONST uint32_t *wb = w;
        FF_CONST int32_t *q = rec;
        int8_t *yo = y;
        for (int32_t b = 0; b < blocks; b++, wb += k + 1) {
            uint32_t planes[FF_B1_MAX_PLANES] = {0};
            ff_b1_count(wb, scratch, padded, planes, n_planes);
            /* The 8 x 8 transposes put lane 8 c + l's count in byte c of planes[l] (bits
             * 0-7) and of planes[8 + l] (8-15); interleaving their bytes puts it in halfword
             * c / 2 of planes[8 (c % 2) + l]: halfword lane / 16 of planes[lane % 16]. */
            ff_transpose8x8(planes);
            if (n_planes > 8) {
                ff_transpose8x8(planes + 8);
            }
            for (int32_t l = 0; l < 8; l++) {
                const uint32_t lo = planes[l], hi = planes[8 + l], m = UINT32_C(0x00FF00FF);
                planes[l] = (lo & m) | ((hi & m) << 8);
                planes[8 + l] = ((lo >> 8) & m) | (hi & ~m);
            }
            const int32_t lanes = o_n - b * FF_WORD_BITS;
            for (int32_t lane = 0; lane < lanes && lane < FF_WORD_BITS; lane++, q += 5) {
                const uint32_t half = planes[lane % 16] >> (lane & 16);
                const int32_t d = 4 * (int32_t)(half & 0xFFFFU) - 2 * n;
                const int32_t acc = inv ? ff_sub32(q[1], d) : ff_add32(q[0], d);
                *yo++ = ff_requant_pre(acc, q[2], q[3], q[4], out_offset, act_min, act_max,
                                       narrow);
            }
        }
    }
}
