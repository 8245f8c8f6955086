/* The int8 convolution through im2col columns (one group, short filters: the first layers of
 * image and audio models); the math and the prepared operands are in ff_conv.h.
 *
 * Loop structure: output pixels two at a time. Both pixels' windows are gathered once into two
 * int16 columns, interleaved pair by pair (the input offset added, 0 for padding taps); then
 * every pair of output channels runs down both columns together: a 2x2 block of accumulators,
 * so each loaded pair of inputs serves two channels and each loaded pair of weights two pixels,
 * and one pointer walks each operand.
 *   - With the DSP extension a kernel row that lies inside the image is gathered four bytes at
 *     a time (one load, two SXTAB16 that add the offset to two lanes each: the column order
 *     perm is theirs), and the product runs on SMLAD: per four positions of depth, two LDRDs
 *     of columns and two of weights feed eight SMLADs, sixteen MACs.
 *   - Without it, the same columns are gathered a byte at a time and the 2x2 block runs on
 *     scalar multiply-accumulates over the same int16 operands.
 * A pixel left over (odd count) reuses the block with a stale second column whose results are
 * not stored; a channel left over (odd out_c) has a zero partner in the prepared weights.
 */
#include "ff_conv.h"

/* Copies n bytes (no overlap), a word at a time on DSP cores (which load unaligned words). */
static void im2col_copy(int8_t *dst, const int8_t *src, int32_t n) {
    int32_t i = 0;
#if defined(FF_DSP)
    for (; i + 4 <= n; i += 4) {
        ff_st32(dst + i, ff_ld32(src + i));
    }
#endif
    for (; i < n; i++) {
        dst[i] = src[i];
    }
}

static void im2col_fill(int8_t *dst, int8_t v, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        dst[i] = v;
    }
}

/* The image columns of input row r (of the batch at xb) into one ring row: its pixels, or the
 * input zero point for a row outside the image. The padding columns keep the zero point written
 * once per call. */
static void im2col_load_row(FF_CONST ff_conv2d_s8_im2col_params *p, const int8_t *xb,
                            int32_t r, int8_t *dst) {
    const int32_t in_c = p->in_c, pad = p->pad_left;
    const int32_t n = p->in_w < p->ring_w - pad ? p->in_w : p->ring_w - pad;
    if (n <= 0) {
        return;
    }
    if (r < 0 || r >= p->in_h) {
        im2col_fill(dst + pad * in_c, (int8_t)-p->in_offset, n * in_c);
    } else {
        im2col_copy(dst + pad * in_c, xb + r * p->in_w * in_c, n * in_c);
    }
}

/* Gathers the window at ring column `col` (pixels) of the k_h ring rows, starting at slot s0,
 * into column q (0 or 1) of cols: position P at cols[4 * (P / 2) + 2q + P % 2], heads of the
 * kernel rows first, then their tails (ff_conv.h). Every tap reads the ring, whose padding
 * holds the input zero point, which the offset turns into 0. */
static void im2col(FF_CONST ff_conv2d_s8_im2col_params *p, const int8_t *ring, int32_t s0,
                   int32_t col, int16_t *cols, int32_t q) {
    const int32_t in_c = p->in_c, k_h = p->k_h, off = p->in_offset;
    const int32_t l = p->k_w * in_c, l4 = l & ~(int32_t)3, row_bytes = p->ring_w * in_c;
    int16_t *d = cols + 2 * q;              /* the head of row ky at position ky * l4 */
    /* the tails from position k_h * l4 on (even): element 4 * (P / 2) + P % 2 steps by 1 from
     * an even position to the next, by 3 from an odd one */
    int32_t ti = 2 * q + 2 * k_h * l4, odd = 0;
    for (int32_t ky = 0, slot = s0; ky < k_h; ky++, d += 2 * l4) {
        const int8_t *s = ring + slot * row_bytes + col * in_c;
        int32_t t = 0;
#if defined(FF_DSP)
        const uint32_t off2 = 0x00010001u * ((uint32_t)off & 0xFFFFu);
        for (; t < l4; t += 4) { /* positions t, t+1 <- bytes 0, 2; t+2, t+3 <- 1, 3 */
            const uint32_t v = ff_ld32(s + t);
            ff_st32(d + 2 * t, __sxtab16(off2, v));
            ff_st32(d + 2 * t + 4, ff_sxtab16_ror8(off2, v));
        }
#else
        for (; t < l4; t += 4) {
            d[2 * t] = (int16_t)(s[t] + off);
            d[2 * t + 1] = (int16_t)(s[t + 2] + off);
            d[2 * t + 4] = (int16_t)(s[t + 1] + off);
            d[2 * t + 5] = (int16_t)(s[t + 3] + off);
        }
#endif
        for (; t < l; t++) {
            cols[ti] = (int16_t)(s[t] + off);
            ti += odd ? 3 : 1;
            odd ^= 1;
        }
        slot = slot + 1 == k_h ? 0 : slot + 1;
    }
}

/* The 2x2 block: both columns against the channel pair whose interleaved weights are wm. */
static FF_INLINE_BODY void im2col_block(const int16_t *cols, FF_CONST int16_t *wm,
                                        int32_t depth, int32_t acc[4]) {
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
#if defined(FF_DSP)
    const int16_t *xp = cols, *const end = cols + 2 * depth;
    for (; xp != end; xp += 8, wm += 8) {
        const uint32_t x0a = ff_ld32a(xp), x1a = ff_ld32a(xp + 2);
        const uint32_t x0b = ff_ld32a(xp + 4), x1b = ff_ld32a(xp + 6);
        uint32_t w0, w1;
        FF_LDRD(w0, w1, wm, 0);
        a00 = __smlad(x0a, w0, a00);
        a10 = __smlad(x1a, w0, a10);
        a01 = __smlad(x0a, w1, a01);
        a11 = __smlad(x1a, w1, a11);
        FF_LDRD(w0, w1, wm, 8);
        a00 = __smlad(x0b, w0, a00);
        a10 = __smlad(x1b, w0, a10);
        a01 = __smlad(x0b, w1, a01);
        a11 = __smlad(x1b, w1, a11);
    }
#else
    const int16_t *xp = cols, *const end = cols + 2 * depth;
    for (; xp != end; xp += 4, wm += 4) { /* one position pair: [x0 x0' x1 x1'], [w0 w0' w1 w1'] */
        a00 += (int32_t)xp[0] * wm[0];
        a10 += (int32_t)xp[2] * wm[0];
        a01 += (int32_t)xp[0] * wm[2];
        a11 += (int32_t)xp[2] * wm[2];
        a00 += (int32_t)xp[1] * wm[1];
        a10 += (int32_t)xp[3] * wm[1];
        a01 += (int32_t)xp[1] * wm[3];
        a11 += (int32_t)xp[3] * wm[3];
    }
#endif
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* Every output channel of the pixel in column 0 (outputs at y0) and, when two, of the pixel in
 * column 1 (at y0 + out_c). */
static void im2col_outputs(FF_CONST ff_conv2d_s8_im2col_params *p, const int16_t *cols,
                           FF_CONST int16_t *w, int8_t *y0, int two) {
    const int32_t depth = p->depth, out_c = p->out_c, lo = p->act_min, hi = p->act_max;
    FF_CONST ff_rq *rq = p->rq;
    int8_t *y1 = y0 + out_c;
#if defined(FF_DSP)
    const uint32_t lo4 = 0x01010101u * ((uint32_t)lo & 0xFFu);
    const uint32_t hi4 = 0x01010101u * ((uint32_t)hi & 0xFFu);
#endif
    int32_t o = 0;
    for (; o + 1 < out_c; o += 2, w += 2 * depth, rq += 2) {
        int32_t acc[4];
        acc[0] = acc[2] = rq[0].bias;
        acc[1] = acc[3] = rq[1].bias;
        im2col_block(cols, w, depth, acc);
#if defined(FF_DSP)
        /* bytes: pixel 0 channels o, o+1, then pixel 1's, each clamped */
        const uint32_t v = ff_pack4_clamp(__ssat(ff_rq_apply(acc[0], rq), 8),
                                          __ssat(ff_rq_apply(acc[1], rq + 1), 8),
                                          __ssat(ff_rq_apply(acc[2], rq), 8),
                                          __ssat(ff_rq_apply(acc[3], rq + 1), 8), lo4, hi4);
        y0[o] = (int8_t)v;
        y0[o + 1] = (int8_t)(v >> 8);
        if (two) {
            y1[o] = (int8_t)(v >> 16);
            y1[o + 1] = (int8_t)(v >> 24);
        }
#else
        y0[o] = ff_rq_s8(acc[0], rq, lo, hi);
        y0[o + 1] = ff_rq_s8(acc[1], rq + 1, lo, hi);
        if (two) {
            y1[o] = ff_rq_s8(acc[2], rq, lo, hi);
            y1[o + 1] = ff_rq_s8(acc[3], rq + 1, lo, hi);
        }
#endif
    }
    if (o < out_c) { /* an odd out_c: the prepared partner channel is zero */
        int32_t acc[4];
        acc[0] = acc[2] = rq[0].bias;
        acc[1] = acc[3] = 0;
        im2col_block(cols, w, depth, acc);
        y0[o] = ff_rq_s8(acc[0], rq, lo, hi);
        if (two) {
            y1[o] = ff_rq_s8(acc[2], rq, lo, hi);
        }
    }
}

void ff_conv2d_s8_im2col(FF_CONST ff_conv2d_s8_im2col_params *p, const int8_t *x,
                         FF_CONST int16_t *w, int8_t *y, int8_t *scratch) {
    const int32_t depth = p->depth, out_w = p->out_w, out_c = p->out_c, k_h = p->k_h;
    const int32_t row_bytes = p->ring_w * p->in_c;
    int16_t *cols = (int16_t *)(void *)scratch; /* 4 * depth bytes, 4-byte aligned */
    int8_t *ring = scratch + 4 * depth;
    for (int32_t j = 0; j < 2 * depth; j++) { /* the positions without a tap stay 0 */
        cols[j] = 0;
    }
    im2col_fill(ring, (int8_t)-p->in_offset, k_h * row_bytes);
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *xb = x + b * p->in_h * p->in_w * p->in_c;
        int8_t *yb = y + b * p->out_h * out_w * out_c;
        int32_t next = -p->pad_top, next_slot = 0, s0 = 0; /* row r sits in slot (r + pad) % k_h */
        int32_t px = 0, pending = 0; /* output pixels done, and whether column 0 waits */
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            while (next < iy0 + k_h) {
                im2col_load_row(p, xb, next, ring + next_slot * row_bytes);
                next++;
                next_slot = next_slot + 1 == k_h ? 0 : next_slot + 1;
            }
            for (int32_t ox = 0; ox < out_w; ox++) {
                im2col(p, ring, s0, ox * p->stride_w, cols, pending);
                if (!pending && !(oy == p->out_h - 1 && ox == out_w - 1)) {
                    pending = 1; /* the pair completes with the next pixel */
                    continue;
                }
                /* columns 0 (pixel px) and, when pending, 1 (pixel px + 1) are ready */
                im2col_outputs(p, cols, w, yb + px * out_c, pending);
                px += 1 + pending;
                pending = 0;
            }
            s0 += p->stride_h;
            while (s0 >= k_h) {
                s0 -= k_h;
            }
        }
    }
}
