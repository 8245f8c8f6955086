/* firmforge HLS layer templates: the integer types every kernel is written in.
 *
 * The kernels never name ap_int or ac_int directly. They use ff_int<W> / ff_uint<W> (signed and
 * unsigned W-bit integers) and ff_stream<T>, which this header maps onto
 *   - Xilinx's ap_int<W> / ap_uint<W> and hls::stream<T> (Vitis HLS, the default), or
 *   - Mentor's ac_int<W, true/false> and ac_channel<T> (Catapult), when FF_HLS_AC is defined.
 * Both libraries agree on what the kernels rely on: + - * widen to the exact result, <<
 * keeps the operand's width, >> of a signed value is arithmetic, and assigning to a narrower
 * type keeps the low bits (two's-complement wrap). Widths are chosen per layer in Python from
 * the actual value ranges (targets/hls/widths.py) and reach the kernels through each layer's
 * configuration struct, the template parameter CFG.
 */
#ifndef FF_HLS_TYPES_H
#define FF_HLS_TYPES_H

#ifdef FF_HLS_AC
#include <ac_channel.h>
#include <ac_int.h>
template <int W> using ff_int = ac_int<W, true>;
template <int W> using ff_uint = ac_int<W, false>;
template <class T> using ff_stream = ac_channel<T>;
#else
#include <ap_int.h>
#include <hls_stream.h>
template <int W> using ff_int = ap_int<W>;
template <int W> using ff_uint = ap_uint<W>;
template <class T> using ff_stream = hls::stream<T>;
#endif

/* Any kernel integer as a C++ long long (both libraries spell it to_int64). */
template <class T> inline long long ff_hls_ll(const T &v) { return v.to_int64(); }

/* clamp(v, lo, hi) on 64-bit values: every fused activation (ReLU, ReLU6) is such a clamp,
 * its bounds computed in Python from the output's quantization (TFLM's activation range). */
inline long long ff_hls_clamp(long long v, long long lo, long long hi) {
#pragma HLS INLINE
    return v < lo ? lo : (v > hi ? hi : v);
}

/* C simulation only: FF_HLS_TRACE(id, array, n) appends "id v0 v1 ..." to the file named by
 * $FF_HLS_TRACE when the testbench is compiled with -DFF_HLS_TRACE_ON (never in synthesis),
 * so a mismatch can be traced to the first layer whose output differs. */
#ifdef FF_HLS_TRACE_ON
#include <cstdio>
#include <cstdlib>
inline std::FILE *ff_hls_trace_file() { /* one file for every element type */
    static std::FILE *f = std::getenv("FF_HLS_TRACE") ? std::fopen(std::getenv("FF_HLS_TRACE"), "w") : 0;
    return f;
}
template <class T> void ff_hls_trace(int id, const T *v, int n) {
    std::FILE *f = ff_hls_trace_file();
    if (!f) return;
    std::fprintf(f, "%d", id);
    for (int i = 0; i < n; i++) std::fprintf(f, " %lld", ff_hls_ll(v[i]));
    std::fprintf(f, "\n");
    std::fflush(f);
}
#define FF_HLS_TRACE(id, v, n) ff_hls_trace(id, v, n)
#else
#define FF_HLS_TRACE(id, v, n)
#endif

#endif
