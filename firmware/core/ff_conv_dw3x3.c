/* The int8 3x3 depthwise convolution (depth multiplier 1); the math, the prepared operands and
 * the in-place rule are in ff_conv.h.
 *
 * Layout. The three input rows a window row of outputs reads are kept in the scratch buffer,
 * padded and interleaved: for each block of four channels, for each of ring_w pixels, the
 * three rows' 4-byte words of that pixel and block, one after the other ([block][pixel][row]
 * [lane]). The padding columns, the rows outside the image and the lanes past the last channel
 * hold the input zero point, whose product with any weight the folded bias cancels, so every
 * output pixel runs the same nine taps with no bounds test, and a window's nine words sit at
 * fixed offsets 12 * kx + 4 * ky from one pointer (immediate offsets). Moving down to the next
 * output row shifts each pixel's words by stride_h rows and copies the new input rows in,
 * each input row exactly once.
 *
 * Loop structure: output row, then channel block, then output pixel, so a block's weights and
 * records stay at fixed offsets from two pointers while its pixels stream by. Per pixel:
 *   - with the DSP extension, taps are paired so that one SMLAD does two. Rows 0 and 1 of a
 *     column are two words A, B: PKHBT/PKHTB regroup them into [A0 A1 B0 B1] and
 *     [A2 A3 B2 B3], whose SXTB16 and SXTB16-ror-8 are the int16 pairs (row 0, row 1) of
 *     channels 0, 1, 2 and 3: four SMLADs for eight taps. Columns 0 and 1 of row 2 pair the
 *     same way; column 2 of row 2 goes through SMLABB/SMLATT. 9 loads, 8 PKH, 18 SXTB16 and
 *     20 multiply-accumulates per 36 MACs; the four results are saturated, packed and clamped
 *     as one word (SSUB8/SEL) and stored with one store;
 *   - without it, four scalar accumulators walk the same int16 weights.
 * Requantization uses the prepared ff_rq records (ff_fixed.h): the weights and biases carry the
 * 2^(l+1) scale, so a multiply, two adds and a shift requantize.
 *
 * ff_dwconv2d_s8_3x3_c4 (c a multiple of 4) runs the same taps without the partial-block cases:
 * the ring advance copies whole words with no per-pixel tests (a padding row reads the pad word
 * with step 0), every store is one word, and the clamp runs only when [act_min, act_max] is
 * narrower than int8. With the DSP extension its ring pixel is 16 bytes, rows 0 and 1 kept
 * already regrouped by PKHBT/PKHTB (done once per ring pixel and output row, not per tap: 2
 * PKH per pixel instead of 6) plus rows 1 and 2 as they are, for the next advance.
 */
#include "ff_conv.h"

/* Bytes of one ring pixel: its three rows' words of one channel block. */
#define DW_PIXEL 12

static void dw_fill(int8_t *dst, int8_t v, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        dst[i] = v;
    }
}

/* Word `k` of a ring pixel (lanes c0..c0+lanes-1 of input pixel s, or the pad value when s is
 * null); the lanes past `lanes` keep the pad value. */
static inline void dw_put(int8_t *d, const int8_t *s, int8_t fill, int32_t lanes) {
#if defined(FF_DSP)
    if (lanes == 4) {
        ff_st32a(d, s != 0 ? ff_ld32(s) : 0x01010101u * (uint8_t)fill);
        return;
    }
#endif
    for (int32_t i = 0; i < lanes; i++) {
        d[i] = s != 0 ? s[i] : fill;
    }
}

/* Prepares the window rows iy0, iy0 + 1, iy0 + 2 (of the batch at xb) in the ring, which held
 * rows iy0 - drop .. iy0 - drop + 2: the words of the kept rows move up by `drop` rows
 * (drop >= 3 keeps none), the others are copied from x, or filled with the pad value for rows
 * outside the image. Only the image columns change; the padding columns keep the pad value,
 * and so do the lanes past the last channel. */
static void dw_advance(FF_CONST ff_dwconv2d_s8_3x3_params *p, const int8_t *xb, int8_t *ring,
                       int32_t iy0, int32_t drop) {
    const int32_t c = p->c, pad = p->pad_left, ring_w = p->ring_w;
    const int32_t block = DW_PIXEL * ring_w, keep = drop < 3 ? 3 - drop : 0;
    const int8_t fill = (int8_t)p->pad_value;
    if (pad >= ring_w) {
        return;
    }
    const int32_t n = p->in_w < ring_w - pad ? p->in_w : ring_w - pad; /* image pixels used */
    const int8_t *src[3]; /* the new rows' pixel 0, null for padding rows */
    for (int32_t k = 0; k < 3; k++) {
        const int32_t r = iy0 + k;
        src[k] = r >= 0 && r < p->in_h ? xb + r * p->in_w * c : 0;
    }
#if defined(FF_DSP)
    if (drop <= 2 && (c & 3) == 0) { /* strides 1 and 2, whole blocks */
        /* a padding row reads the pad word over and over (step 0) instead of a pixel */
        const uint32_t fill4 = 0x01010101u * (uint8_t)fill;
        const int32_t st1 = src[1] != 0 ? c : 0, st2 = src[2] != 0 ? c : 0;
        for (int32_t c0 = 0; c0 < c; c0 += 4) {
            int8_t *d = ring + (c0 >> 2) * block + DW_PIXEL * pad;
            int8_t *const end = d + DW_PIXEL * n;
            const int8_t *s1 = src[1] != 0 ? src[1] + c0 : (const int8_t *)&fill4;
            const int8_t *s2 = src[2] != 0 ? src[2] + c0 : (const int8_t *)&fill4;
            if (drop == 1) { /* two words move up, one comes in */
                for (; d != end; d += DW_PIXEL, s2 += st2) {
                    const uint32_t w1 = ff_ld32a(d + 4), w2 = ff_ld32a(d + 8);
                    ff_st32a(d, w1);
                    ff_st32a(d + 4, w2);
                    ff_st32a(d + 8, ff_ld32(s2));
                }
            } else { /* one word moves up, two come in */
                for (; d != end; d += DW_PIXEL, s1 += st1, s2 += st2) {
                    ff_st32a(d, ff_ld32a(d + 8));
                    ff_st32a(d + 4, ff_ld32(s1));
                    ff_st32a(d + 8, ff_ld32(s2));
                }
            }
        }
        return;
    }
#endif
    for (int32_t j = 0, sj = 0; j < n; j++, sj += c) {
        int8_t *d = ring + DW_PIXEL * (pad + j);
        for (int32_t c0 = 0; c0 < c; c0 += 4, d += block) {
            const int32_t lanes = c - c0 < 4 ? c - c0 : 4;
            for (int32_t k = 0; k < keep; k++) { /* all four lanes: the pad lanes move too */
                ff_copy4a(d + 4 * k, d + 4 * (k + drop));
            }
            for (int32_t k = keep; k < 3; k++) {
                dw_put(d + 4 * k, src[k] != 0 ? src[k] + sj + c0 : 0, fill, lanes);
            }
        }
    }
}

#if defined(FF_DSP)
/* The four accumulators += the taps of two window rows regrouped as [A0 A1 B0 B1] in lo and
 * [A2 A3 B2 B3] in hi (row words A, B), with the eight prepared weights wb[2 wk ...]. */
#define DW_SMLAD4(lo, hi, wk)                                                      \
    do {                                                                           \
        const uint32_t l_ = (lo), h_ = (hi);                                       \
        uint32_t w0_, w1_;                                                         \
        FF_LDRD(w0_, w1_, wb, 2 * (wk));                                           \
        a0 = __smlad(__sxtb16(l_), w0_, a0);                                       \
        a1 = __smlad(ff_sxtb16_ror8(l_), w1_, a1);                                 \
        FF_LDRD(w0_, w1_, wb, 2 * (wk) + 8);                                       \
        a2 = __smlad(__sxtb16(h_), w0_, a2);                                       \
        a3 = __smlad(ff_sxtb16_ror8(h_), w1_, a3);                                 \
    } while (0)

/* The same from the two row words themselves, at pa and pb. */
#define DW_PAIR_WORDS(pa, pb, wk)                                                  \
    do {                                                                           \
        const uint32_t ra_ = ff_ld32a(pa), rb_ = ff_ld32a(pb);                     \
        const uint32_t lo_ = ff_pkhbt(ra_, rb_), hi_ = ff_pkhtb(ra_, rb_);         \
        DW_SMLAD4(lo_, hi_, wk);                                                   \
    } while (0)

/* The ninth tap (row 2, column 2: the word at pc) of channels (0, 2) and (1, 3). */
#define DW_LAST_TAP(pc)                                                            \
    do {                                                                           \
        const uint32_t r2_ = ff_ld32a(pc);                                         \
        const uint32_t even_ = __sxtb16(r2_), odd_ = ff_sxtb16_ror8(r2_);          \
        uint32_t w02_, w13_;                                                       \
        FF_LDRD(w02_, w13_, wb, 64);                                               \
        a0 = __smlabb((int32_t)even_, (int32_t)w02_, a0);                          \
        a2 = __smlatt((int32_t)even_, (int32_t)w02_, a2);                          \
        a1 = __smlabb((int32_t)odd_, (int32_t)w13_, a1);                           \
        a3 = __smlatt((int32_t)odd_, (int32_t)w13_, a3);                           \
    } while (0)
#endif

#if defined(FF_DSP)
/* __ssat(ff_rq_apply(acc2, rb + j), 8) for a constant j, the record's multiplier and rounding
 * constant loaded by one LDRD at an immediate offset from rb. */
#define DW_RQ(acc2, j)                                                             \
    __extension__({                                                                \
        uint32_t m_, n_;                                                           \
        FF_LDRD(m_, n_, rb, 16 * (j) + 4);                                         \
        const int32_t h_ = ff_smmulr((acc2), (int32_t)m_);                          \
        __ssat(ff_asr32(2 * h_ + (int32_t)n_ - (h_ < 0 ? 1 : 0), (int)rb[j].rsh), 8); \
    })
#endif

#if defined(FF_DSP)
/* The same from an ff_rq4 block r (lane j's multiplier and rounding constant by one LDRD)
 * and lane j's shift s. */
#define DW_RQ4(acc2, j, s)                                                         \
    __extension__({                                                                \
        uint32_t m_, n_;                                                           \
        FF_LDRD(m_, n_, r, 16 + 8 * (j));                                          \
        const int32_t h_ = ff_smmulr((acc2), (int32_t)m_);                          \
        __ssat(ff_asr32(2 * h_ + (int32_t)n_ - (h_ < 0 ? 1 : 0), (int)(s)), 8);     \
    })
#endif

#if !defined(FF_DSP)
/* Lane j (a constant at each call) of one output pixel's accumulator, from its bias a: the
 * nine taps of ring words 4 * ky + 12 * kx, with the weights where the DSP order puts them
 * (ff_conv.h). */
static FF_INLINE_BODY int32_t dw_taps(const int8_t *q, FF_CONST int16_t *wb, int32_t a,
                                      int32_t j) {
    const int8_t *qj = q + j;
    FF_CONST int16_t *wj = wb + 2 * j;
    a += (int32_t)qj[0] * wj[0];
    a += (int32_t)qj[4] * wj[1];
    a += (int32_t)qj[12] * wj[8];
    a += (int32_t)qj[16] * wj[9];
    a += (int32_t)qj[24] * wj[16];
    a += (int32_t)qj[28] * wj[17];
    a += (int32_t)qj[8] * wj[24];
    a += (int32_t)qj[20] * wj[25];
    a += (int32_t)qj[32] * wb[32 + ((j & 1) << 1) + (j >> 1)];
    return a;
}

static FF_INLINE_BODY int8_t dw_lane(const int8_t *q, FF_CONST int16_t *wb,
                                     FF_CONST ff_rq *rb, int32_t a, int32_t j, int32_t lo,
                                     int32_t hi) {
    return ff_rq_s8(dw_taps(q, wb, a, j), rb + j, lo, hi);
}

/* ff_rq_s8 from the fields of lane j of an ff_rq4 block (the same arithmetic as ff_rq_apply
 * in ff_fixed.h, the record's fields laid out by lane instead). */
static FF_INLINE_BODY int8_t dw4_rq_s8(int32_t acc2, FF_CONST ff_rq4 *r, int32_t j, int32_t lo,
                                       int32_t hi) {
    const int32_t h = ff_smmulr(acc2, r->mr[j][0]);
    return (int8_t)ff_clamp(ff_asr32(2 * h + r->mr[j][1] - (h < 0 ? 1 : 0), (int)r->rsh[j]),
                            lo, hi);
}
#endif

/* One channel block along one output row: q points at the block's first window pixel in the
 * ring (output pixels x_step bytes apart), wb at its 36 weights, rb at its 4 records, y at its
 * first output (y_step bytes apart); n lanes are stored. */
static void dw_row_block(const int8_t *q, FF_CONST int16_t *wb, FF_CONST ff_rq *rb, int8_t *y,
                         int32_t out_w, int32_t x_step, int32_t y_step, int32_t n, int32_t lo,
                         int32_t hi) {
#if defined(FF_DSP)
    const uint32_t lo4 = 0x01010101u * ((uint32_t)lo & 0xFFu);
    const uint32_t hi4 = 0x01010101u * ((uint32_t)hi & 0xFFu);
#endif
    for (int32_t ox = 0; ox < out_w; ox++, q += x_step, y += y_step) {
        int32_t a0 = rb[0].bias, a1 = rb[1].bias, a2 = rb[2].bias, a3 = rb[3].bias;
#if defined(FF_DSP)
        /* rows 0 and 1 of columns 0, 1, 2 (weights wb[0..23]), then row 2 of columns 0 and 1
         * (wb[24..31]) and of column 2 */
        DW_PAIR_WORDS(q, q + 4, 0);
        DW_PAIR_WORDS(q + DW_PIXEL, q + DW_PIXEL + 4, 8);
        DW_PAIR_WORDS(q + 2 * DW_PIXEL, q + 2 * DW_PIXEL + 4, 16);
        DW_PAIR_WORDS(q + 8, q + DW_PIXEL + 8, 24);
        DW_LAST_TAP(q + 2 * DW_PIXEL + 8);
        const uint32_t v = ff_pack4_clamp(__ssat(ff_rq_apply(a0, rb), 8),
                                          __ssat(ff_rq_apply(a1, rb + 1), 8),
                                          __ssat(ff_rq_apply(a2, rb + 2), 8),
                                          __ssat(ff_rq_apply(a3, rb + 3), 8), lo4, hi4);
        if (n == 4) {
            ff_st32(y, v);
        } else {
            for (int32_t j = 0; j < n; j++) {
                y[j] = (int8_t)(v >> (8 * j));
            }
        }
#else
        if (n == 4) {
            y[0] = dw_lane(q, wb, rb, a0, 0, lo, hi);
            y[1] = dw_lane(q, wb, rb, a1, 1, lo, hi);
            y[2] = dw_lane(q, wb, rb, a2, 2, lo, hi);
            y[3] = dw_lane(q, wb, rb, a3, 3, lo, hi);
        } else {
            y[0] = dw_lane(q, wb, rb, a0, 0, lo, hi);
            if (n > 1) {
                y[1] = dw_lane(q, wb, rb, a1, 1, lo, hi);
            }
            if (n > 2) {
                y[2] = dw_lane(q, wb, rb, a2, 2, lo, hi);
            }
        }
#endif
    }
}

#if !defined(FF_DSP)
/* One ring word from four bytes of x (any alignment). */
static inline void dw4_word(int8_t *d, const int8_t *s) {
#if defined(FF_DSP)
    ff_st32a(d, ff_ld32(s));
#else
    for (int32_t i = 0; i < 4; i++) {
        d[i] = s[i];
    }
#endif
}

/* dw_advance for whole channel blocks (c a multiple of 4): each ring word is one word of x,
 * or the pad word for padding rows (read over and over: step 0). */
static void dw4_advance(FF_CONST ff_dwconv2d_s8_3x3_params *p, const int8_t *xb, int8_t *ring,
                        int32_t iy0, int32_t drop) {
    const int32_t c = p->c, pad = p->pad_left, ring_w = p->ring_w, block = DW_PIXEL * ring_w;
    const uint32_t fill4 = 0x01010101u * (uint8_t)p->pad_value;
    if (pad >= ring_w) {
        return;
    }
    const int32_t n = p->in_w < ring_w - pad ? p->in_w : ring_w - pad; /* image pixels used */
    const int8_t *src[3];
    int32_t st[3];
    for (int32_t k = 0; k < 3; k++) {
        const int32_t r = iy0 + k;
        const int in = r >= 0 && r < p->in_h;
        src[k] = in ? xb + r * p->in_w * c : (const int8_t *)&fill4;
        st[k] = in ? c : 0;
    }
    for (int32_t c0 = 0; c0 < c; c0 += 4) {
        int8_t *d = ring + (c0 >> 2) * block + DW_PIXEL * pad;
        int8_t *const end = d + DW_PIXEL * n;
        const int32_t o0 = st[0] != 0 ? c0 : 0, o1 = st[1] != 0 ? c0 : 0;
        const int32_t o2 = st[2] != 0 ? c0 : 0;
        const int8_t *s0 = src[0] + o0, *s1 = src[1] + o1, *s2 = src[2] + o2;
        if (drop == 1) { /* two words move up, one comes in */
            for (; d != end; d += DW_PIXEL, s2 += st[2]) {
                ff_copy4a(d, d + 4);
                ff_copy4a(d + 4, d + 8);
                dw4_word(d + 8, s2);
            }
        } else if (drop == 2) { /* one word moves up, two come in */
            for (; d != end; d += DW_PIXEL, s1 += st[1], s2 += st[2]) {
                ff_copy4a(d, d + 8);
                dw4_word(d + 4, s1);
                dw4_word(d + 8, s2);
            }
        } else { /* three come in */
            for (; d != end; d += DW_PIXEL, s0 += st[0], s1 += st[1], s2 += st[2]) {
                dw4_word(d, s0);
                dw4_word(d + 4, s1);
                dw4_word(d + 8, s2);
            }
        }
    }
}

#endif

#if defined(FF_DSP)
/* Bytes of one ring pixel of ff_dwconv2d_s8_3x3_c4 on DSP cores: rows 0 and 1 of its channel
 * block already regrouped as the body pairs them, [A0 A1 B0 B1] and [A2 A3 B2 B3] (PKHBT,
 * PKHTB of row words A, B), then row 1 and row 2 as they are (row 1 is the next row 0). */
#define DW4_PIXEL 16

/* dw4_advance for that layout. */
static void dw4_advance_paired(FF_CONST ff_dwconv2d_s8_3x3_params *p, const int8_t *xb,
                               int8_t *ring, int32_t iy0, int32_t drop) {
    const int32_t c = p->c, pad = p->pad_left, ring_w = p->ring_w, block = DW4_PIXEL * ring_w;
    const uint32_t fill4 = 0x01010101u * (uint8_t)p->pad_value;
    if (pad >= ring_w) {
        return;
    }
    const int32_t n = p->in_w < ring_w - pad ? p->in_w : ring_w - pad; /* image pixels used */
    const int8_t *src[3];
    int32_t st[3];
    for (int32_t k = 0; k < 3; k++) {
        const int32_t r = iy0 + k;
        const int in = r >= 0 && r < p->in_h;
        src[k] = in ? xb + r * p->in_w * c : (const int8_t *)&fill4;
        st[k] = in ? c : 0;
    }
    for (int32_t c0 = 0; c0 < c; c0 += 4) {
        int8_t *d = ring + (c0 >> 2) * block + DW4_PIXEL * pad;
        int8_t *const end = d + DW4_PIXEL * n;
        const int8_t *s0 = src[0] + (st[0] != 0 ? c0 : 0), *s1 = src[1] + (st[1] != 0 ? c0 : 0);
        const int8_t *s2 = src[2] + (st[2] != 0 ? c0 : 0);
        if (drop == 1) { /* rows 1, 2 become rows 0, 1; one row comes in */
            for (; d != end; d += DW4_PIXEL, s2 += st[2]) {
                const uint32_t a = ff_ld32a(d + 8), b = ff_ld32a(d + 12);
                ff_st32a(d, ff_pkhbt(a, b));
                ff_st32a(d + 4, ff_pkhtb(a, b));
                ff_st32a(d + 8, b);
                ff_st32a(d + 12, ff_ld32(s2));
            }
        } else if (drop == 2) { /* row 2 becomes row 0; two rows come in (stride 2, whose
                                   * advances never read the raw row 1: not kept) */
            for (; d != end; d += DW4_PIXEL, s1 += st[1], s2 += st[2]) {
                const uint32_t a = ff_ld32a(d + 12), b = ff_ld32(s1);
                ff_st32a(d, ff_pkhbt(a, b));
                ff_st32a(d + 4, ff_pkhtb(a, b));
                ff_st32a(d + 12, ff_ld32(s2));
            }
        } else { /* three rows come in */
            for (; d != end; d += DW4_PIXEL, s0 += st[0], s1 += st[1], s2 += st[2]) {
                const uint32_t a = ff_ld32(s0), b = ff_ld32(s1);
                ff_st32a(d, ff_pkhbt(a, b));
                ff_st32a(d + 4, ff_pkhtb(a, b));
                ff_st32a(d + 8, b);
                ff_st32a(d + 12, ff_ld32(s2));
            }
        }
    }
}

#endif

/* ff_dwconv2d_s8_3x3_c4: channels a multiple of 4, so every block is whole: one output row of
 * one block, the four results stored as one word. The records' multiplier and rounding
 * constant come in one LDRD each. */
static void dw4_row_block(const int8_t *q, FF_CONST int16_t *wb, FF_CONST ff_rq4 *r, int8_t *y,
                          const int8_t *y_end, int32_t x_step, int32_t y_step, int32_t lo,
                          int32_t hi) {
#if defined(FF_DSP)
    const uint32_t lo4 = 0x01010101u * ((uint32_t)lo & 0xFFu);
    const uint32_t hi4 = 0x01010101u * ((uint32_t)hi & 0xFFu);
    const int narrow = lo > -128 || hi < 127; /* else SSAT alone clamps */
    do {
        uint32_t b0, b1, b2, b3;
        FF_LDRD(b0, b1, r, 0);
        FF_LDRD(b2, b3, r, 8);
        int32_t a0 = (int32_t)b0, a1 = (int32_t)b1, a2 = (int32_t)b2, a3 = (int32_t)b3;
        /* rows 0 and 1 of columns 0, 1, 2, already regrouped in the ring, then row 2 */
        DW_SMLAD4(ff_ld32a(q), ff_ld32a(q + 4), 0);
        DW_SMLAD4(ff_ld32a(q + DW4_PIXEL), ff_ld32a(q + DW4_PIXEL + 4), 8);
        DW_SMLAD4(ff_ld32a(q + 2 * DW4_PIXEL), ff_ld32a(q + 2 * DW4_PIXEL + 4), 16);
        DW_PAIR_WORDS(q + 12, q + DW4_PIXEL + 12, 24);
        DW_LAST_TAP(q + 2 * DW4_PIXEL + 12);
        uint32_t s0, s1, s2, s3;
        FF_LDRD(s0, s1, r, 48);
        FF_LDRD(s2, s3, r, 56);
        uint32_t v = ff_pack4(DW_RQ4(a0, 0, s0), DW_RQ4(a1, 1, s1), DW_RQ4(a2, 2, s2),
                              DW_RQ4(a3, 3, s3));
        if (narrow) {
            v = ff_clamp4(v, lo4, hi4);
        }
        ff_st32(y, v);
        q += x_step;
        y += y_step;
    } while (y != y_end);
#else
    do {
        y[0] = dw4_rq_s8(dw_taps(q, wb, r->bias[0], 0), r, 0, lo, hi);
        y[1] = dw4_rq_s8(dw_taps(q, wb, r->bias[1], 1), r, 1, lo, hi);
        y[2] = dw4_rq_s8(dw_taps(q, wb, r->bias[2], 2), r, 2, lo, hi);
        y[3] = dw4_rq_s8(dw_taps(q, wb, r->bias[3], 3), r, 3, lo, hi);
        q += x_step;
        y += y_step;
    } while (y != y_end);
#endif
}

#if defined(FF_DSP)
#undef DW_SMLAD4
#undef DW_PAIR_WORDS
#undef DW_LAST_TAP
#undef DW_RQ
#undef DW_RQ4
#endif

void ff_dwconv2d_s8_3x3(FF_CONST ff_dwconv2d_s8_3x3_params *p, const int8_t *x,
                        FF_CONST int16_t *w, int8_t *y, int8_t *ring) {
    const int32_t c = p->c, block = DW_PIXEL * p->ring_w;
    const int32_t x_step = DW_PIXEL * p->stride_w;
    int32_t yo = 0;
    dw_fill(ring, (int8_t)p->pad_value, block * ((c + 3) >> 2));
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *xb = x + b * p->in_h * p->in_w * c;
        for (int32_t oy = 0; oy < p->out_h; oy++, yo += p->out_w * c) {
            /* Window rows iy0..iy0+2 are copied before output row oy is written; in place,
             * row r is overwritten by output row r <= iy0 + 2 (see ff_conv.h). */
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            dw_advance(p, xb, ring, iy0, oy == 0 ? 3 : p->stride_h);
            const int8_t *q = ring;
            for (int32_t c0 = 0; c0 < c; c0 += 4, q += block) {
                dw_row_block(q, w + 9 * c0, p->rq + c0, y + yo + c0, p->out_w, x_step, c,
                             c - c0 < 4 ? c - c0 : 4, p->act_min, p->act_max);
            }
        }
    }
}

void ff_dwconv2d_s8_3x3_c4(FF_CONST ff_dwconv2d_s8_3x3_params *p, const int8_t *x,
                           FF_CONST int16_t *w, int8_t *y, int8_t *ring) {
#if defined(FF_DSP)
    const int32_t pixel = DW4_PIXEL; /* the paired layout (4 * ring_w * c bytes of scratch) */
#else
    const int32_t pixel = DW_PIXEL;
#endif
    const int32_t c = p->c, block = pixel * p->ring_w, row = p->out_w * c;
    const int32_t x_step = pixel * p->stride_w;
    const uint32_t fill4 = 0x01010101u * (uint8_t)p->pad_value;
    FF_CONST ff_rq4 *const rq4 = (FF_CONST ff_rq4 *)(FF_CONST void *)p->rq; /* see ff_conv.h */
    int8_t *yr = y;
    for (int32_t i = 0; i < block * (c >> 2); i += 4) { /* whole words */
        ff_copy4a(ring + i, &fill4);
    }
    if (row == 0) {
        return;
    }
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *xb = x + b * p->in_h * p->in_w * c;
        for (int32_t oy = 0; oy < p->out_h; oy++, yr += row) {
            /* the same order as ff_dwconv2d_s8_3x3 (in place: see ff_conv.h) */
            const int32_t iy0 = oy * p->stride_h - p->pad_top, drop = oy == 0 ? 3 : p->stride_h;
#if defined(FF_DSP)
            dw4_advance_paired(p, xb, ring, iy0, drop);
#else
            dw4_advance(p, xb, ring, iy0, drop);
#endif
            const int8_t *q = ring;
            for (int32_t c0 = 0; c0 < c; c0 += 4, q += block) {
                dw4_row_block(q, w + 9 * c0, rq4 + (c0 >> 2), yr + c0, yr + c0 + row, x_step, c,
                              p->act_min, p->act_max);
            }
        }
    }
}
