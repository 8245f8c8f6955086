/* The pointwise (1x1, stride 1, unpadded, one group) int8 convolution: a matrix product over
 * pixels, y[px][o] = requant(bias[o] + sum_i (x[px][i] + in_offset) * w[o][i]); the math is in
 * ff_conv.h. */
#include "ff_conv.h"

void ff_conv2d_s8_1x1(FF_CONST ff_conv2d_s8_1x1_params *p, const int8_t *x, FF_CONST int8_t *w,
                      FF_CONST int32_t *bias, int8_t *y) {
    const int32_t in_c = p->in_c, out_c = p->out_c;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t px = 0; px < p->pixels; px++) {
        const int8_t *xp = x + px * in_c;
        int8_t *yp = y + px * out_c;
        int32_t o = 0;
        /* Two output channels per pass share each loaded and offset input value. */
        for (; o + 1 < out_c; o += 2) {
            FF_CONST int8_t *w0 = w + o * in_c;
            FF_CONST int8_t *w1 = w0 + in_c;
            int32_t acc0 = bias[o], acc1 = bias[o + 1];
            for (int32_t i = 0; i < in_c; i++) {
                const int32_t xv = (int32_t)xp[i] + in_offset;
                acc0 += xv * (int32_t)w0[i];
                acc1 += xv * (int32_t)w1[i];
            }
            yp[o] = ff_requant_s8(acc0, p->mult[o], p->shift[o], out_offset, lo, hi);
            yp[o + 1] = ff_requant_s8(acc1, p->mult[o + 1], p->shift[o + 1], out_offset, lo, hi);
        }
        if (o < out_c) {
            FF_CONST int8_t *w0 = w + o * in_c;
            int32_t acc = bias[o];
            for (int32_t i = 0; i < in_c; i++) {
                acc += ((int32_t)xp[i] + in_offset) * (int32_t)w0[i];
            }
            yp[o] = ff_requant_s8(acc, p->mult[o], p->shift[o], out_offset, lo, hi);
        }
    }
}
