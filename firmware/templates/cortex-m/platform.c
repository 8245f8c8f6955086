/* Cortex-M platform services for main.c, selected by the board's -D macros:
 *   the console             ff_console.h: semihosting, an STM32 USART or the nRF UART
 *   FF_EXIT_SEMIHOSTING     SYS_EXIT_EXTENDED {ADP_Stopped_ApplicationExit, status}: under QEMU
 *                           the status becomes QEMU's exit code (needs a debugger on silicon)
 *   FF_EXIT_SPIN            real boards without a debugger: print "ff:exit <status>" and sleep
 *                           forever (the serial monitor reads the line)
 *   FF_CYCLES_DWT           real boards: DWT->CYCCNT around each inference, printed as
 *                           "ff:cycles <index> <n>" after that inference's output line (QEMU
 *                           does not model the counter, so emulated boards leave it out)
 * The marks are real, separate functions: a QEMU plugin counts the instructions executed
 * between their entries (and at each layer mark of a profile build).
 * A fault that the stack caused (startup.c arms the trap) prints
 *   ff:stack-overflow <fault> sp=0x... reserved=<bytes>
 * and exits with FF_EXIT_STACK_OVERFLOW; any other prints "ff:fault <name>" and exits with 3. */
#include <stdint.h>

#include "ff_console.h"
#include "ff_platform.h"

#if !defined(FF_EXIT_SEMIHOSTING) && !defined(FF_EXIT_SPIN)
#error "cortex-m: the board defines no exit (FF_EXIT_SEMIHOSTING or FF_EXIT_SPIN)"
#endif

void ff_cortexm_fault(const char *name);

extern uint32_t __ff_stack_guard[], __ff_stack_bottom[], __ff_stack_top[]; /* link.ld */
extern uint32_t __ff_trap_lo[];

#define FF_SYS_EXIT_EXTENDED 0x20
#define FF_ADP_STOPPED_APPLICATION_EXIT 0x20026

static void raw_putc(char c) { ff_console_putc(c); }

static void put_str(const char *s) {
    while (*s) {
        raw_putc(*s++);
    }
}

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

#endif

void ff_platform_init(void) {
    ff_console_init();
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
#if defined(FF_EXIT_SEMIHOSTING)
    const uint32_t block[2] = {FF_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    (void)ff_semihost(FF_SYS_EXIT_EXTENDED, block);
#else
    put_str("ff:exit ");
    put_u32((uint32_t)status);
    raw_putc('\n');
#endif
    for (;;) {
        __asm__ volatile("wfi");
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

__attribute__((noinline)) void ff_platform_mark_layer(void) {
    __asm__ volatile("@ ff mark layer" ::: "memory");
}

void ff_platform_stack(ff_stack_region *r) {
    r->guard = (const volatile uint8_t *)__ff_stack_guard;
    r->painted = r->bottom = (const volatile uint8_t *)__ff_stack_bottom;
    r->top = (const volatile uint8_t *)__ff_stack_top;
}

#define FF_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define FF_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define FF_CFSR_MSTKERR (1u << 4)   /* MemManage fault while stacking an exception */
#define FF_CFSR_MMARVALID (1u << 7) /* MMFAR holds the faulting address */
#define FF_CFSR_STKERR (1u << 12)   /* BusFault while stacking */
#define FF_CFSR_STKOF (1u << 20)    /* ARMv8-M: SP moved below PSPLIM */

static void put_hex(uint32_t v) {
    put_str("0x");
    for (int i = 0; i < 8; i++) {
        raw_putc("0123456789abcdef"[(v >> (28 - 4 * i)) & 0xFu]);
    }
}

/* Whether the fault came from the process stack running past its bottom: the stack pointer
 * below the reserved stack, a fault while stacking the exception frame (which lands below the
 * faulting push), the ARMv8-M stack limit, or a faulting address in the guard or the trap zone
 * below it. */
static int stack_overflowed(uint32_t psp) {
    uint32_t bottom = (uint32_t)(uintptr_t)__ff_stack_bottom;
    if (psp < bottom) {
        return 1;
    }
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__) || \
    defined(__ARM_ARCH_8_1M_MAIN__)
    uint32_t cfsr = FF_CFSR;
    if (cfsr & (FF_CFSR_MSTKERR | FF_CFSR_STKERR | FF_CFSR_STKOF)) {
        return 1;
    }
    if (cfsr & FF_CFSR_MMARVALID) {
        uint32_t addr = FF_MMFAR;
        return addr >= (uint32_t)(uintptr_t)__ff_trap_lo && addr < bottom;
    }
#endif
    return 0;
}

/* Every fault and stray interrupt of the vector table ends here (on MSP): a stack overflow is
 * reported as such with the process stack pointer, anything else by name; exit 5 or 3. */
void ff_cortexm_fault(const char *name) {
    uint32_t psp;
    __asm__ volatile("mrs %0, psp" : "=r"(psp));
    if (stack_overflowed(psp)) {
        put_str("\nff:stack-overflow ");
        put_str(name);
        put_str(" sp=");
        put_hex(psp);
        put_str(" reserved=");
        put_u32((uint32_t)((uintptr_t)__ff_stack_top - (uintptr_t)__ff_stack_bottom));
        put_str("\n");
        ff_platform_exit(FF_EXIT_STACK_OVERFLOW);
    }
    put_str("\nff:fault ");
    put_str(name);
    put_str("\n");
    ff_platform_exit(3);
}
