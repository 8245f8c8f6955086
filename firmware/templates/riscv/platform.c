/* RISC-V platform services for main.c, selected by the board's -D macros:
 *   FF_CONSOLE_UART16550=<base>   16550 UART (QEMU virt: 0x10000000), polled
 *   FF_CONSOLE_SIFIVE_UART=<base> SiFive UART (FE310 / QEMU sifive_e: 0x10013000), polled,
 *                                 FF_SIFIVE_BAUD (default 115200) from FF_CLOCK_HZ
 *   FF_CONSOLE_SIFIVE_GPIO=<base> real FE310 boards: the GPIO block (0x10012000) whose IOF0
 *                                 routes UART0 to GPIO 16 (RX) and 17 (TX)
 *   FF_EXIT_SIFIVE_TEST=<base>    SiFive test finisher (QEMU virt: 0x100000): 0x5555 passes,
 *                                 (status << 16) | 0x3333 fails with that exit code
 *   FF_EXIT_SEMIHOSTING           SYS_EXIT_EXTENDED {ADP_Stopped_ApplicationExit, status}
 * Traps (start.S) end in ff_riscv_trap: "ff:fault <cause> mepc=0x..." and exit status 3, or,
 * for an access fault in the stack's guard or the trap zone below it, or a stack pointer below
 * the stack,
 * "ff:stack-overflow <cause> sp=0x... reserved=<bytes> mepc=0x... mtval=0x..." and exit status
 * FF_EXIT_STACK_OVERFLOW.
 * The marks are real, separate functions: a QEMU plugin counts the instructions executed
 * between their entries (and at each layer mark of a profile build).
 *
 * The pragma keeps gcc from turning the loops below into memcpy/memset calls (memset would
 * call itself). */
#pragma GCC optimize("no-tree-loop-distribute-patterns")

#include <stddef.h>
#include <stdint.h>

#include "ff_platform.h"

#if defined(FF_CONSOLE_UART16550) + defined(FF_CONSOLE_SIFIVE_UART) != 1
#error "riscv: the board must define one console (FF_CONSOLE_UART16550 or FF_CONSOLE_SIFIVE_UART)"
#endif
#if defined(FF_EXIT_SIFIVE_TEST) + defined(FF_EXIT_SEMIHOSTING) != 1
#error "riscv: the board must define one exit (FF_EXIT_SIFIVE_TEST or FF_EXIT_SEMIHOSTING)"
#endif

void ff_riscv_trap(uint32_t mcause, uint32_t mepc, uint32_t mtval, uint32_t sp);
int32_t ff_riscv_semihost(int32_t op, const void *arg); /* start.S */

extern uint8_t __ff_stack_guard[], __ff_stack_bottom[], __ff_stack_top[]; /* link.ld */
extern uint8_t __ff_trap_lo[];

#ifndef FF_SIFIVE_BAUD
#define FF_SIFIVE_BAUD 115200UL
#endif

#define FF_REG8(addr) (*(volatile uint8_t *)(uintptr_t)(addr))
#define FF_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

void ff_platform_init(void) {
#if defined(FF_CONSOLE_UART16550)
    FF_REG8(FF_CONSOLE_UART16550 + 3u) = 0x03u; /* LCR: 8 data bits, no parity, 1 stop bit */
    FF_REG8(FF_CONSOLE_UART16550 + 2u) = 0x01u; /* FCR: FIFOs on */
#else
#if defined(FF_CONSOLE_SIFIVE_GPIO)
    FF_REG32(FF_CONSOLE_SIFIVE_GPIO + 0x3Cu) &= ~(3u << 16); /* iof_sel: IOF0 for GPIO 16, 17 */
    FF_REG32(FF_CONSOLE_SIFIVE_GPIO + 0x38u) |= 3u << 16;    /* iof_en */
#endif
    /* div: baud = clock / (div + 1), rounded to the nearest divisor */
    FF_REG32(FF_CONSOLE_SIFIVE_UART + 0x18u) =
        (uint32_t)((FF_CLOCK_HZ + FF_SIFIVE_BAUD / 2u) / FF_SIFIVE_BAUD - 1u);
    FF_REG32(FF_CONSOLE_SIFIVE_UART + 0x08u) = 1u; /* txctrl: transmitter on, one stop bit */
#endif
}

void ff_platform_putc(char c) {
#if defined(FF_CONSOLE_UART16550)
    while ((FF_REG8(FF_CONSOLE_UART16550 + 5u) & 0x20u) == 0u) { /* LSR.THRE */
    }
    FF_REG8(FF_CONSOLE_UART16550) = (uint8_t)c;
#else
    while (FF_REG32(FF_CONSOLE_SIFIVE_UART) & 0x80000000u) { /* txdata.full */
    }
    FF_REG32(FF_CONSOLE_SIFIVE_UART) = (uint8_t)c;
#endif
}

void ff_platform_exit(int status) {
#if defined(FF_EXIT_SIFIVE_TEST)
    FF_REG32(FF_EXIT_SIFIVE_TEST) = status == 0 ? 0x5555u
                                                : (((uint32_t)status & 0xFFFFu) << 16) | 0x3333u;
#else
    const uint32_t block[2] = {0x20026u, (uint32_t)status}; /* ADP_Stopped_ApplicationExit */
    (void)ff_riscv_semihost(0x20, block);                    /* SYS_EXIT_EXTENDED */
#endif
    for (;;) {
    }
}

/* The two asm strings differ so that gcc's identical-code folding cannot merge the marks. */
__attribute__((noinline)) void ff_platform_mark_start(void) {
    __asm__ volatile("# ff mark start" ::: "memory");
}

__attribute__((noinline)) void ff_platform_mark_stop(void) {
    __asm__ volatile("# ff mark stop" ::: "memory");
}

__attribute__((noinline)) void ff_platform_mark_layer(void) {
    __asm__ volatile("# ff mark layer" ::: "memory");
}

void ff_platform_stack(ff_stack_region *r) {
    r->guard = __ff_stack_guard;
    r->painted = r->bottom = __ff_stack_bottom;
    r->top = __ff_stack_top;
}

static void put_str(const char *s) {
    while (*s) {
        ff_platform_putc(*s++);
    }
}

static void put_hex(uint32_t v) {
    put_str("0x");
    for (int shift = 28; shift >= 0; shift -= 4) {
        ff_platform_putc("0123456789abcdef"[(v >> shift) & 0xFu]);
    }
}

static void put_dec(uint32_t v) {
    char buf[10];
    int n = 0;
    do {
        buf[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0) {
        ff_platform_putc(buf[--n]);
    }
}

void ff_riscv_trap(uint32_t mcause, uint32_t mepc, uint32_t mtval, uint32_t sp) {
    static const char *const names[] = {
        "InstructionMisaligned", "InstructionAccessFault", "IllegalInstruction", "Breakpoint",
        "LoadMisaligned", "LoadAccessFault", "StoreMisaligned", "StoreAccessFault",
        "EcallU", "EcallS", "Reserved", "EcallM"};
    /* The ebreak of a semihosting call trapped: no debugger serves semihosting (a real board
     * on its own). Exiting through semihosting again would trap forever, so stop here. */
    if (mcause == 3u && mepc == (uint32_t)(uintptr_t)ff_riscv_semihost + 4u) {
        for (;;) {
        }
    }
    uint32_t lo = (uint32_t)(uintptr_t)__ff_trap_lo;
    uint32_t bottom = (uint32_t)(uintptr_t)__ff_stack_bottom;
    /* load (5) or store (7) access fault below the stack, or any trap with sp below it */
    int overflow = ((mcause == 5u || mcause == 7u) && mtval >= lo && mtval < bottom) ||
                   sp < bottom;
    put_str(overflow ? "\nff:stack-overflow " : "\nff:fault ");
    if (mcause & 0x80000000u) {
        put_str("Interrupt");
    } else if (mcause < sizeof names / sizeof names[0]) {
        put_str(names[mcause]);
    } else {
        put_str("Exception");
    }
    if (overflow) {
        put_str(" sp=");
        put_hex(sp);
        put_str(" reserved=");
        put_dec((uint32_t)((uintptr_t)__ff_stack_top - (uintptr_t)__ff_stack_bottom));
    }
    put_str(" mcause=");
    put_hex(mcause);
    put_str(" mepc=");
    put_hex(mepc);
    put_str(" mtval=");
    put_hex(mtval);
    ff_platform_putc('\n');
    ff_platform_exit(overflow ? FF_EXIT_STACK_OVERFLOW : 3);
}
