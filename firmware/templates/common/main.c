/* Runs the model on the test vectors embedded by firmforge and prints, for each vector:
 *   ff:out <index> <v0> <v1> ...
 *   ff:stack <index> <high-water mark in bytes> <reserved bytes>   (families that measure it)
 * then "ff:done" and exits with status 0. A stack that reached its guard (or, on AVR, grew past
 * its budget) prints "ff:stack-overflow <guard|budget> <used> <reserved>" instead and exits with
 * FF_EXIT_STACK_OVERFLOW. The host reads these lines back and compares them with
 * the reference byte for byte. ff_vectors.h (generated) names the model and the vector arrays. */
#include <stdint.h>

#include "ff_platform.h"
#include "ff_vectors.h"

static void put_str(const char *s) {
    while (*s) {
        ff_platform_putc(*s++);
    }
}

static void put_int(int32_t v) {
    char buf[12];
    int n = 0;
    uint32_t u = v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v;
    if (v < 0) {
        ff_platform_putc('-');
    }
    do {
        buf[n++] = (char)('0' + (int)(u % 10u));
        u /= 10u;
    } while (u != 0u);
    while (n > 0) {
        ff_platform_putc(buf[--n]);
    }
}

/* The stack's high-water mark so far: the painted bytes the firmware has overwritten, counted
 * from the top. Checked after every inference, together with the guard below the stack. */
static void check_stack(int32_t n) {
    ff_stack_region r;
    ff_platform_stack(&r);
    if (r.top == 0) {
        return;
    }
    const volatile uint8_t *p = r.painted;
    while (p < r.top && *p == FF_STACK_PAINT) {
        p++;
    }
    uint32_t used = (uint32_t)(r.top - p);
    uint32_t reserved = (uint32_t)(r.top - r.bottom);
    int guard_ok = 1;
    for (const volatile uint8_t *g = r.guard; g < r.painted; g++) {
        guard_ok &= *g == FF_STACK_GUARD;
    }
    if (!guard_ok || used > reserved) {
        put_str(guard_ok ? "ff:stack-overflow budget " : "ff:stack-overflow guard ");
        put_int((int32_t)used);
        ff_platform_putc(' ');
        put_int((int32_t)reserved);
        ff_platform_putc('\n');
        ff_platform_exit(FF_EXIT_STACK_OVERFLOW);
    }
    put_str("ff:stack ");
    put_int(n);
    ff_platform_putc(' ');
    put_int((int32_t)used);
    ff_platform_putc(' ');
    put_int((int32_t)reserved);
    ff_platform_putc('\n');
}

/* The input and output buffers live in .bss, not on the stack: a model's input can be far larger
 * than any stack worth reserving, and the linker then accounts for them. */
static FF_IN_TYPE in[FF_IN_SIZE];
static FF_OUT_TYPE out[FF_OUT_SIZE];

int main(void) {
    ff_platform_init();
#ifdef FF_RESET
    FF_RESET(); /* a stateful model starts from its reset state; vectors then run in order */
#endif
    for (int32_t n = 0; n < FF_VECTOR_COUNT; n++) {
        for (int32_t i = 0; i < FF_IN_SIZE; i++) {
            in[i] = ff_vectors_in[n * (int32_t)FF_IN_SIZE + i];
        }
        ff_platform_mark_start();
        FF_RUN(in, out);
        ff_platform_mark_stop();
        put_str("ff:out ");
        put_int(n);
        for (int32_t i = 0; i < FF_OUT_SIZE; i++) {
            ff_platform_putc(' ');
            put_int(out[i]);
        }
        ff_platform_putc('\n');
        check_stack(n);
    }
    put_str("ff:done\n");
    ff_platform_exit(0);
    return 0;
}
