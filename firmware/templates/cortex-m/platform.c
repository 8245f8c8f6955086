/* Cortex-M platform services for main.c, selected by the board's -D macros:
 *   FF_CONSOLE_SEMIHOSTING  characters through semihosting SYS_WRITEC (BKPT 0xAB)
 *   FF_EXIT_SEMIHOSTING     SYS_EXIT_EXTENDED {ADP_Stopped_ApplicationExit, status}: under QEMU
 *                           the status becomes QEMU's exit code
 *   FF_CYCLES_DWT           real boards: DWT->CYCCNT around each inference, printed as
 *                           "ff:cycles <index> <n>" after that inference's output line (QEMU
 *                           does not model the counter, so emulated boards leave it out)
 * The marks are real, separate functions: a QEMU plugin counts the instructions executed
 * between their entries. */
#include <stdint.h>

#include "ff_platform.h"

#if !defined(FF_CONSOLE_SEMIHOSTING)
#error "cortex-m: the board defines no console (FF_CONSOLE_SEMIHOSTING)"
#endif
#if !defined(FF_EXIT_SEMIHOSTING)
#error "cortex-m: the board defines no exit (FF_EXIT_SEMIHOSTING)"
#endif

void ff_cortexm_fault(const char *name);

#define FF_SYS_WRITEC 0x03
#define FF_SYS_WRITE0 0x04
#define FF_SYS_EXIT_EXTENDED 0x20
#define FF_ADP_STOPPED_APPLICATION_EXIT 0x20026

/* One semihosting call: operation in r0, argument block in r1, result in r0. */
static int32_t semihost(int32_t op, const void *arg) {
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void raw_putc(char c) { (void)semihost(FF_SYS_WRITEC, &c); }

#if defined(FF_CYCLES_DWT)
#define FF_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define FF_DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define FF_DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define FF_DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

/* The count of the last inference waits here until its output line is complete. This is the
 * platform's own state (the counter is hardware state anyway), not a kernel's. */
static struct {
    uint32_t start;
    uint32_t cycles;
    int32_t index;
    int pending;
} dwt;

static void put_u32(uint32_t v) {
    char buf[10];
    int n = 0;
    do {
        buf[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0) {
        raw_putc(buf[--n]);
    }
}

static void put_str(const char *s) {
    while (*s) {
        raw_putc(*s++);
    }
}
#endif

void ff_platform_init(void) {
#if defined(FF_CYCLES_DWT)
    FF_DEMCR |= 1u << 24;      /* TRCENA: power the DWT */
    FF_DWT_LAR = 0xC5ACCE55u;  /* unlock (Cortex-M7; ignored where there is no lock) */
    FF_DWT_CYCCNT = 0u;
    FF_DWT_CTRL |= 1u;         /* CYCCNTENA */
#endif
}

void ff_platform_putc(char c) {
    raw_putc(c);
#if defined(FF_CYCLES_DWT)
    if (c == '\n' && dwt.pending) {
        dwt.pending = 0;
        put_str("ff:cycles ");
        put_u32((uint32_t)dwt.index++);
        raw_putc(' ');
        put_u32(dwt.cycles);
        raw_putc('\n');
    }
#endif
}

void ff_platform_exit(int status) {
    const uint32_t block[2] = {FF_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    (void)semihost(FF_SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

/* The two asm strings differ so that gcc's identical-code folding cannot merge the marks. */
__attribute__((noinline)) void ff_platform_mark_start(void) {
#if defined(FF_CYCLES_DWT)
    dwt.start = FF_DWT_CYCCNT;
#endif
    __asm__ volatile("@ ff mark start" ::: "memory");
}

__attribute__((noinline)) void ff_platform_mark_stop(void) {
    __asm__ volatile("@ ff mark stop" ::: "memory");
#if defined(FF_CYCLES_DWT)
    dwt.cycles = FF_DWT_CYCCNT - dwt.start;
    dwt.pending = 1;
#endif
}

/* Every fault and stray interrupt of the vector table ends here: name it, exit with 3. */
void ff_cortexm_fault(const char *name) {
    (void)semihost(FF_SYS_WRITE0, "\nff:fault ");
    (void)semihost(FF_SYS_WRITE0, name);
    (void)semihost(FF_SYS_WRITE0, "\n");
    ff_platform_exit(3);
}
