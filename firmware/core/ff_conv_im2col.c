/* The int8 convolution through im2col columns (one group, short filters: the first layers of
 * image and audio models); the math and the prepared operands are in ff_conv.h.
 *
 * Loop structure. The k_h input rows an output row reads sit in a window of int16 rows,
 * widened with the input offset added (padding pixels and rows outside the image hold 0, the
 * padding's real value); moving down an output row moves the rows still needed up and loads
 * the others, so each input row is widened once. A kernel row of an output pixel is then a run
 * of L = k_w * in_c int16 values: lw = ceil(L / 2) words, copied into the column as they are
 * (the half word past an odd run meets a zero weight). Output pixels go two at a time (two of
 * one row are gathered together; an odd row's last waits for the next row's first): word j of
 * pixel q at word 2j + q. Then output channels go four at a time down both columns, a 2x4 block
 * of accumulators, so each loaded pair of input words serves four channels and each loaded
 * pair of weight words two pixels.
 *   - With the DSP extension a row is widened four bytes at a time (SXTAB16 adds the offset to
 *     two lanes at once, PKHBT/PKHTB restore the byte order), and the product runs on SMLAD:
 *     per word of depth one LDRD of columns and two of weights feed eight SMLADs, sixteen MACs.
 *     The four results of a pixel are saturated, packed and stored as one word; the bytewise
 *     clamp (SSUB8/SEL) runs only when [act_min, act_max] is narrower than int8.
 *   - Without it, the same integers a value and a product at a time.
 * A pixel left over (odd count) reuses the block with a stale second column whose results are
 * not stored; channels past out_c have zero weights and are not stored.
 */
#include "ff_conv.h"

/* Input row r (of the batch at xb) into one ring row of int16: x + in_offset for its image
 * pixels; a row outside the image is left as it is, all 0 (ring rows are cleared when a row
 * outside the image is due, see below). The padding columns stay 0. */
static void im2col_load_row(FF_CONST ff_conv2d_s8_im2col_params *p, const int8_t *xb,
                            int32_t r, int16_t *dst) {
    const int32_t in_c = p->in_c, pad = p->pad_left, off = p->in_offset;
    const int32_t n = (p->in_w < p->ring_w - pad ? p->in_w : p->ring_w - pad) * in_c;
    int16_t *d = dst + pad * in_c;
    int32_t i = 0;
    if (n <= 0) {
        return;
    }
    if (r < 0 || r >= p->in_h) {
        for (; i < n; i++) {
            d[i] = 0;
        }
        return;
    }
    const int8_t *s = xb + r * p->in_w * in_c;
#if defined(FF_DSP)
    const uint32_t off2 = 0x00010001u * ((uint32_t)off & 0xFFFFu);
    for (; i + 4 <= n; i += 4) { /* SXTAB16: bytes 0, 2 and 1, 3; PKH: back to 0, 1 and 2, 3 */
        const uint32_t v = ff_ld32(s + i);
        const uint32_t e = __sxtab16(off2, v), o = ff_sxtab16_ror8(off2, v);
        ff_st32(d + i, ff_pkhbt(e, o));
        ff_st32(d + i + 2, ff_pkhtb(e, o));
    }
#endif
    for (; i < n; i++) {
        d[i] = (int16_t)(s[i] + off);
    }
}

/* Gathers the window of the output pixel at ring column c (in values) into column q: word j
 * of kernel row ky at word 2 * (ky * lw + j) + q, read from the ring's row ky (rows `row`
 * values apart; any alignment). */
static void im2col_gather(const int16_t *ring, int32_t row, int32_t k_h, int32_t lw, int32_t c,
                          int16_t *cols) {
    const int16_t *s = ring + c;
    for (int32_t ky = 0; ky < k_h; ky++, s += row - 2 * lw) {
        const int16_t *const e = s + 2 * lw;
        do {
#if defined(FF_DSP)
            ff_st32a(cols, ff_ld32(s));
#else
            cols[0] = s[0];
            cols[1] = s[1];
#endif
            cols += 4;
            s += 2;
        } while (s != e);
    }
}

/* The same for two pixels at once, ring columns c and c + step, into columns 0 and 1. */
static void im2col_gather2(const int16_t *ring, int32_t row, int32_t k_h, int32_t lw, int32_t c,
                           int32_t step, int16_t *cols) {
    const int16_t *s = ring + c;
    for (int32_t ky = 0; ky < k_h; ky++, s += row - 2 * lw) {
        const int16_t *const e = s + 2 * lw;
        do {
#if defined(FF_DSP)
            const uint32_t v0 = ff_ld32(s), v1 = ff_ld32(s + step);
            ff_st32a(cols, v0);
            ff_st32a(cols + 2, v1);
#else
            cols[0] = s[0];
            cols[1] = s[1];
            cols[2] = s[step];
            cols[3] = s[step + 1];
#endif
            cols += 4;
            s += 2;
        } while (s != e);
    }
}

/* Every output channel of the pixel in column 0 (outputs at y0) and, when two, of the pixel in
 * column 1 (at y0 + out_c): channels four at a time, a 2x4 block of accumulators over both
 * columns, so each loaded pair of inputs serves four channels and each loaded pair of weights
 * two pixels. */
static void im2col_outputs(FF_CONST ff_conv2d_s8_im2col_params *p, const int16_t *cols,
                           FF_CONST int16_t *w, int8_t *y0, int two) {
    const int32_t depth = p->depth, out_c = p->out_c, lo = p->act_min, hi = p->act_max;
    FF_CONST ff_rq *rq = p->rq;
    int8_t *y1 = y0 + out_c;
#if defined(FF_DSP)
    const uint32_t lo4 = 0x01010101u * ((uint32_t)lo & 0xFFu);
    const uint32_t hi4 = 0x01010101u * ((uint32_t)hi & 0xFFu);
    const int narrow = lo > -128 || hi < 127; /* else SSAT alone clamps */
    const int16_t *const end = cols + 2 * depth;
#endif
    for (int32_t o = 0; o < out_c; o += 4, w += 4 * depth, rq += 4) {
        const int32_t n = out_c - o < 4 ? out_c - o : 4; /* channels stored */
#if defined(FF_DSP)
        int32_t a00 = rq[0].bias, a01 = rq[1].bias, a02 = rq[2].bias, a03 = rq[3].bias;
        int32_t a10 = a00, a11 = a01, a12 = a02, a13 = a03;
        FF_CONST int16_t *wm = w;
        /* per word of depth: the two pixels' words, then channels 0, 1 and 2, 3's; two words
         * per iteration (depth is a multiple of 4 positions) */
        for (const int16_t *xp = cols; xp != end; xp += 8, wm += 16) {
            uint32_t x0, x1, w0, w1;
            FF_LDRD_RAM(x0, x1, xp, 0);
            FF_LDRD(w0, w1, wm, 0);
            a00 = __smlad(x0, w0, a00);
            a10 = __smlad(x1, w0, a10);
            a01 = __smlad(x0, w1, a01);
            a11 = __smlad(x1, w1, a11);
            FF_LDRD(w0, w1, wm, 8);
            a02 = __smlad(x0, w0, a02);
            a12 = __smlad(x1, w0, a12);
            a03 = __smlad(x0, w1, a03);
            a13 = __smlad(x1, w1, a13);
            FF_LDRD_RAM(x0, x1, xp, 8);
            FF_LDRD(w0, w1, wm, 16);
            a00 = __smlad(x0, w0, a00);
            a10 = __smlad(x1, w0, a10);
            a01 = __smlad(x0, w1, a01);
            a11 = __smlad(x1, w1, a11);
            FF_LDRD(w0, w1, wm, 24);
            a02 = __smlad(x0, w0, a02);
            a12 = __smlad(x1, w0, a12);
            a03 = __smlad(x0, w1, a03);
            a13 = __smlad(x1, w1, a13);
        }
        uint32_t v0 = ff_pack4(__ssat(ff_rq_apply(a00, rq), 8), __ssat(ff_rq_apply(a01, rq + 1), 8),
                               __ssat(ff_rq_apply(a02, rq + 2), 8),
                               __ssat(ff_rq_apply(a03, rq + 3), 8));
        uint32_t v1 = ff_pack4(__ssat(ff_rq_apply(a10, rq), 8), __ssat(ff_rq_apply(a11, rq + 1), 8),
                               __ssat(ff_rq_apply(a12, rq + 2), 8),
                               __ssat(ff_rq_apply(a13, rq + 3), 8));
        if (narrow) {
            v0 = ff_clamp4(v0, lo4, hi4);
            v1 = ff_clamp4(v1, lo4, hi4);
        }
        if (n == 4) {
            ff_st32(y0 + o, v0);
            if (two) {
                ff_st32(y1 + o, v1);
            }
        } else {
            for (int32_t j = 0; j < n; j++) {
                y0[o + j] = (int8_t)(v0 >> (8 * j));
                if (two) {
                    y1[o + j] = (int8_t)(v1 >> (8 * j));
                }
            }
        }
#else
        /* two passes of a 2x2 block (channels h, h + 1 for h = 0, 2) in scalar accumulators;
         * word k: cols [x0 x0' x1 x1'], weights [w0 w0' w1 w1' w2 w2' w3 w3'] */
        int32_t acc[2][4];
        for (int32_t h = 0; h < 4; h += 2) {
            int32_t a00 = rq[h].bias, a01 = rq[h + 1].bias, a10 = a00, a11 = a01;
            const int16_t *xp = cols, *const end = cols + 2 * depth;
            for (FF_CONST int16_t *wm = w + 2 * h; xp != end; xp += 4, wm += 8) {
                const int32_t x0 = xp[0], x0b = xp[1], x1 = xp[2], x1b = xp[3];
                a00 += x0 * wm[0] + x0b * wm[1];
                a10 += x1 * wm[0] + x1b * wm[1];
                a01 += x0 * wm[2] + x0b * wm[3];
                a11 += x1 * wm[2] + x1b * wm[3];
            }
            acc[0][h] = a00;
            acc[0][h + 1] = a01;
            acc[1][h] = a10;
            acc[1][h + 1] = a11;
        }
        for (int32_t j = 0; j < n; j++) {
            y0[o + j] = ff_rq_s8(acc[0][j], rq + j, lo, hi);
            if (two) {
                y1[o + j] = ff_rq_s8(acc[1][j], rq + j, lo, hi);
            }
        }
#endif
    }
}

void ff_conv2d_s8_im2col(FF_CONST ff_conv2d_s8_im2col_params *p, const int8_t *x,
                         FF_CONST int16_t *w, int8_t *y, int8_t *scratch) {
    const int32_t depth = p->depth, out_w = p->out_w, out_c = p->out_c, k_h = p->k_h;
    const int32_t in_c = p->in_c, lw = (p->k_w * in_c + 1) >> 1, step = p->stride_w * in_c;
    const int32_t row = (p->ring_w * in_c + 1) & ~(int32_t)1; /* int16 values per ring row */
    int16_t *cols = (int16_t *)(void *)scratch; /* 4 * depth bytes, 4-byte aligned */
    int16_t *ring = cols + 2 * depth;
    /* the column positions past the taps, the padding and the slack past the last ring row
     * stay 0 */
    for (int32_t j = 0; j < 2 * depth + k_h * row + 2; j++) {
        cols[j] = 0;
    }
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *xb = x + b * p->in_h * p->in_w * in_c;
        int8_t *yb = y + b * p->out_h * out_w * out_c;
        int32_t px = 0, pending = 0; /* output pixels done, and whether column 0 waits */
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            /* The ring holds input rows iy0 .. iy0 + k_h - 1 in order: the rows the previous
             * output row also read move up (a forward copy, words to lower addresses), the
             * others are loaded. */
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int32_t keep = oy == 0 || p->stride_h >= k_h ? 0 : k_h - p->stride_h;
            for (int32_t j = 0; j < keep * row; j += 2) {
                ff_copy4a(ring + j, ring + (k_h - keep) * row + j);
            }
            for (int32_t r = keep; r < k_h; r++) {
                im2col_load_row(p, xb, iy0 + r, ring + r * row);
            }
            int32_t ox = 0, c = 0;
            if (pending) { /* the last pixel of the previous row waits in column 0 */
                im2col_gather(ring, row, k_h, lw, 0, cols + 2);
                im2col_outputs(p, cols, w, yb + px * out_c, 1);
                px += 2;
                ox = 1;
                c = step;
                pending = 0;
            }
            for (; ox + 1 < out_w; ox += 2, c += 2 * step, px += 2) {
                im2col_gather2(ring, row, k_h, lw, c, step, cols);
                im2col_outputs(p, cols, w, yb + px * out_c, 1);
            }
            if (ox < out_w) { /* one pixel left: it pairs with the next row's first */
                im2col_gather(ring, row, k_h, lw, c, cols);
                if (oy == p->out_h - 1) {
                    im2col_outputs(p, cols, w, yb + px * out_c, 0);
                    px++;
                } else {
                    pending = 1;
                }
            }
        }
    }
}
