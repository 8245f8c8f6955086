/* LSTM kernels; the math is in ff_lstm.h. */
#include "ff_lstm.h"

/* sigmoid(i / 24) in Q0.16 as TFLite tabulates it (converter/ops/lut16.py, SIGMOID_TABLE). */
static FF_CONST uint16_t sigmoid_table[256] = {
    32768u, 33451u, 34133u, 34813u, 35493u, 36169u, 36843u, 37513u,
    38180u, 38841u, 39498u, 40149u, 40794u, 41432u, 42064u, 42688u,
    43304u, 43912u, 44511u, 45102u, 45683u, 46255u, 46817u, 47369u,
    47911u, 48443u, 48964u, 49475u, 49975u, 50464u, 50942u, 51409u,
    51865u, 52311u, 52745u, 53169u, 53581u, 53983u, 54374u, 54755u,
    55125u, 55485u, 55834u, 56174u, 56503u, 56823u, 57133u, 57433u,
    57724u, 58007u, 58280u, 58544u, 58800u, 59048u, 59288u, 59519u,
    59743u, 59959u, 60168u, 60370u, 60565u, 60753u, 60935u, 61110u,
    61279u, 61441u, 61599u, 61750u, 61896u, 62036u, 62172u, 62302u,
    62428u, 62549u, 62666u, 62778u, 62886u, 62990u, 63090u, 63186u,
    63279u, 63368u, 63454u, 63536u, 63615u, 63691u, 63765u, 63835u,
    63903u, 63968u, 64030u, 64090u, 64148u, 64204u, 64257u, 64308u,
    64357u, 64405u, 64450u, 64494u, 64536u, 64576u, 64614u, 64652u,
    64687u, 64721u, 64754u, 64786u, 64816u, 64845u, 64873u, 64900u,
    64926u, 64950u, 64974u, 64997u, 65019u, 65039u, 65060u, 65079u,
    65097u, 65115u, 65132u, 65149u, 65164u, 65179u, 65194u, 65208u,
    65221u, 65234u, 65246u, 65258u, 65269u, 65280u, 65291u, 65301u,
    65310u, 65319u, 65328u, 65337u, 65345u, 65352u, 65360u, 65367u,
    65374u, 65381u, 65387u, 65393u, 65399u, 65404u, 65410u, 65415u,
    65420u, 65425u, 65429u, 65433u, 65438u, 65442u, 65445u, 65449u,
    65453u, 65456u, 65459u, 65462u, 65465u, 65468u, 65471u, 65474u,
    65476u, 65479u, 65481u, 65483u, 65485u, 65488u, 65489u, 65491u,
    65493u, 65495u, 65497u, 65498u, 65500u, 65501u, 65503u, 65504u,
    65505u, 65507u, 65508u, 65509u, 65510u, 65511u, 65512u, 65513u,
    65514u, 65515u, 65516u, 65517u, 65517u, 65518u, 65519u, 65520u,
    65520u, 65521u, 65522u, 65522u, 65523u, 65523u, 65524u, 65524u,
    65525u, 65525u, 65526u, 65526u, 65526u, 65527u, 65527u, 65528u,
    65528u, 65528u, 65529u, 65529u, 65529u, 65529u, 65530u, 65530u,
    65530u, 65530u, 65531u, 65531u, 65531u, 65531u, 65531u, 65532u,
    65532u, 65532u, 65532u, 65532u, 65532u, 65533u, 65533u, 65533u,
    65533u, 65533u, 65533u, 65533u, 65533u, 65534u, 65534u, 65534u,
    65534u, 65534u, 65534u, 65534u, 65534u, 65534u, 65534u, 65535u
};

static int32_t sat16(int32_t v) {
    return ff_clamp(v, -32768, 32767);
}

/* (x * multiplier + round) >> left_shift, rounding down; multiplier 0: x * (3 << left_shift). */
static int32_t lut_rescale(int32_t x, int32_t multiplier, int32_t left_shift) {
    if (multiplier == 0) {
        return x * ((int32_t)3 << left_shift);
    }
    const int32_t rounding = left_shift > 0 ? (int32_t)1 << (left_shift - 1) : 0;
    return ff_asr32(x * multiplier + rounding, (int)left_shift);
}

/* T[h] << bits + f * (T[h + 1] - T[h]) for h = a >> bits < 255, f = the low bits of a. */
static uint32_t lut_interpolate(uint32_t a, int bits) {
    const uint32_t h = a >> bits;
    const uint32_t lo = sigmoid_table[h], hi = sigmoid_table[h + 1];
    return (lo << bits) + (a & (((uint32_t)1 << bits) - 1)) * (hi - lo);
}

/* int16 sigmoid of a rescaled Q3.12 input, Q0.15 result. */
static int32_t lut_sigmoid(int32_t x, int32_t multiplier, int32_t left_shift) {
    const int32_t v = lut_rescale(x, multiplier, left_shift);
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    uint32_t r = (a >> 9) >= 255 ? (uint32_t)0x7FFF << 10 : lut_interpolate(a, 9);
    r = v >= 0 ? r + ((uint32_t)1 << 9) : ((uint32_t)1 << 25) - r + ((uint32_t)1 << 9) - 1;
    return (int32_t)(r >> 10);
}

/* int16 tanh of a rescaled Q3.12 input, Q0.15 result. */
static int32_t lut_tanh(int32_t x, int32_t multiplier, int32_t left_shift) {
    const int32_t v = lut_rescale(x, multiplier, left_shift);
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    int32_t r = (a >> 8) >= 255 ? (int32_t)0xFFFF << 8 : (int32_t)lut_interpolate(a, 8);
    r = v >= 0 ? r - ((int32_t)1 << 23) + ((int32_t)1 << 7)
               : ((int32_t)1 << 23) - r + ((int32_t)1 << 7) - 1;
    return ff_asr32(r, 8);
}

/* One unit from its gate pre-activations: updates c, returns the unclamped new h. */
static int32_t unit_update(FF_CONST ff_lstm_params *p, const int32_t pre[4], int16_t *c) {
    const int32_t i = lut_sigmoid(pre[0], 0, 0);
    const int32_t f = lut_sigmoid(pre[1], 0, 0);
    const int32_t g = lut_tanh(pre[2], 0, 0);
    const int32_t o = lut_sigmoid(pre[3], 0, 0);
    const int32_t fc = sat16(ff_mbqm(f * (int32_t)*c, p->forget_mult, p->forget_shift));
    const int32_t ig = sat16(ff_mbqm(i * g, p->input_mult, p->input_shift));
    int32_t cell = sat16(fc + ig);
    if (p->cell_clip >= 0) {
        cell = ff_clamp(cell, -p->cell_clip, p->cell_clip);
    }
    *c = (int16_t)cell;
    const int32_t t = lut_tanh(cell, p->tanh_multiplier, p->tanh_shift);
    return ff_add32(p->h_zero_point, ff_mbqm(t * o, p->output_mult, p->output_shift));
}

/* Offsets of step t of batch row b in x (width input_size) and y (width units). */
static int32_t row_index(FF_CONST ff_lstm_params *p, int32_t b, int32_t t) {
    return p->time_major ? t * p->batch + b : b * p->steps + t;
}

/* sat16(ff_mbqm(bias + sum_n (a[n] + offset) * w[n], mult, shift)), int32 sum. */
static int32_t fc_s8(const int8_t *a, int32_t offset, FF_CONST int8_t *w, int32_t n,
                     int32_t bias, int32_t mult, int32_t shift) {
    int32_t acc = 0;
    for (int32_t k = 0; k < n; k++) {
        acc += ((int32_t)a[k] + offset) * (int32_t)w[k];
    }
    return sat16(ff_mbqm(acc + bias, mult, shift));
}

void ff_lstm_s8_s16(FF_CONST ff_lstm_params *p, const int8_t *x, FF_CONST int8_t *w_x,
                    FF_CONST int8_t *w_h, FF_CONST int32_t *bias, int8_t *h, int16_t *c,
                    int8_t *y) {
    const int32_t in_n = p->input_size, units = p->units;
    for (int32_t b = 0; b < p->batch; b++) {
        int8_t *hb = h + b * units;
        int16_t *cb = c + b * units;
        for (int32_t t = 0; t < p->steps; t++) {
            const int8_t *xt = x + row_index(p, b, t) * in_n;
            int8_t *yt = y + row_index(p, b, t) * units;
            for (int32_t j = 0; j < units; j++) {
                int32_t pre[4];
                for (int32_t k = 0; k < 4; k++) {
                    const int32_t row = k * units + j;
                    const int32_t from_x = fc_s8(xt, p->x_offset, w_x + row * in_n, in_n,
                                                 bias[row], p->gate_mult[k], p->gate_shift[k]);
                    const int32_t from_h = fc_s8(hb, p->h_offset, w_h + row * units, units, 0,
                                                 p->gate_mult[4 + k], p->gate_shift[4 + k]);
                    pre[k] = sat16(from_x + from_h);
                }
                yt[j] = (int8_t)ff_clamp(unit_update(p, pre, &cb[j]), -128, 127);
            }
            for (int32_t j = 0; j < units; j++) {
                hb[j] = yt[j];
            }
        }
    }
}

#define FF_LSTM_S16_RUN 128

/* sum_n (a[n] + offset) * w[n], exact: each product is below 2^24, summed in int32 over runs
 * of 128 (below 2^31) and in int64 across runs. */
static int64_t dot_s16(const int16_t *a, int32_t offset, FF_CONST int8_t *w, int32_t n) {
    int64_t acc = 0;
    int32_t k = 0;
    while (k < n) {
        const int32_t end = n - k > FF_LSTM_S16_RUN ? k + FF_LSTM_S16_RUN : n;
        int32_t part = 0;
        for (; k < end; k++) {
            part += ((int32_t)a[k] + offset) * (int32_t)w[k];
        }
        acc += part;
    }
    return acc;
}

void ff_lstm_s16_s8(FF_CONST ff_lstm_params *p, const int16_t *x, FF_CONST int8_t *w_x,
                    FF_CONST int8_t *w_h, FF_CONST int64_t *bias, int16_t *h, int16_t *c,
                    int16_t *y) {
    const int32_t in_n = p->input_size, units = p->units;
    for (int32_t b = 0; b < p->batch; b++) {
        int16_t *hb = h + b * units;
        int16_t *cb = c + b * units;
        for (int32_t t = 0; t < p->steps; t++) {
            const int16_t *xt = x + row_index(p, b, t) * in_n;
            int16_t *yt = y + row_index(p, b, t) * units;
            for (int32_t j = 0; j < units; j++) {
                int32_t pre[4];
                for (int32_t k = 0; k < 4; k++) {
                    const int32_t row = k * units + j;
                    const int64_t acc_x = dot_s16(xt, p->x_offset, w_x + row * in_n, in_n)
                                          + bias[row];
                    const int64_t acc_h = dot_s16(hb, p->h_offset, w_h + row * units, units);
                    const int32_t from_x = sat16(ff_mbqm64(acc_x, p->gate_mult[k],
                                                           p->gate_shift[k]));
                    const int32_t from_h = sat16(ff_mbqm64(acc_h, p->gate_mult[4 + k],
                                                           p->gate_shift[4 + k]));
                    pre[k] = sat16(from_x + from_h);
                }
                yt[j] = (int16_t)sat16(unit_update(p, pre, &cb[j]));
            }
            for (int32_t j = 0; j < units; j++) {
                hb[j] = yt[j];
            }
        }
    }
}
