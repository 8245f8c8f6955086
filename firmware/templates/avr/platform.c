/* AVR (megaAVR, avr-libc) platform services for main.c, selected by the board's -D macros:
 *   FF_CONSOLE_AVR_UART0  USART0, polled, 8N1 at FF_AVR_BAUD (default 115200, double speed)
 *   FF_EXIT_AVR           the status goes to GPIOR1, then cli + sleep: simavr stops there
 *                         ("sleeping with interrupts off") and the runner returns GPIOR1
 * The marks write 1 (start), 2 (stop) and 3 (a layer, profile builds) to GPIOR0; the simavr
 * runner records the cycle count at each write. They are real, separate functions, like on the
 * other families.
 * An interrupt without a handler (none is enabled) reports "ff:fault BadInterrupt", exit 3.
 *
 * The stack: avr-libc starts it at the top of RAM (RAMEND) and nothing stops it at the board's
 * budget (__ff_stack_size, a linker symbol: the project's Makefile defines it). The first
 * FF_AVR_GUARD bytes after .bss (__heap_start: no heap here) are the guard; ff_platform_init
 * paints them and everything from there up to its own stack frame, so main.c measures the
 * stack exactly even past its budget, and reports a stack deeper than the budget, or one that
 * reached the guard, as an overflow. No hardware trap: the AVR has none. */
#include <stdint.h>

#include <avr/interrupt.h>
#include <avr/io.h>

#include "ff_platform.h"

#if !defined(FF_CONSOLE_AVR_UART0)
#error "avr: the board defines no console (FF_CONSOLE_AVR_UART0)"
#endif
#if !defined(FF_EXIT_AVR)
#error "avr: the board defines no exit (FF_EXIT_AVR)"
#endif

#define FF_AVR_GUARD 4

extern uint8_t __heap_start[];         /* avr-libc's linker script: the end of .bss/.noinit */
extern const char __ff_stack_size[];   /* the budget: its address is the value */

#ifndef FF_AVR_BAUD
#define FF_AVR_BAUD 115200UL
#endif
/* U2X0 = 1: baud = F / (8 * (UBRR + 1)), rounded to the nearest divisor */
#define FF_AVR_UBRR ((FF_CLOCK_HZ + 4UL * FF_AVR_BAUD) / (8UL * FF_AVR_BAUD) - 1UL)

void ff_platform_init(void) {
    uint8_t *p = __heap_start;
    uint8_t *sp = (uint8_t *)(uintptr_t)SP; /* the next free byte: below it nothing is live */
    for (uint8_t i = 0; i < FF_AVR_GUARD; i++) {
        *p++ = FF_STACK_GUARD;
    }
    while (p < sp) {
        *p++ = FF_STACK_PAINT;
    }
    UBRR0H = (uint8_t)(FF_AVR_UBRR >> 8);
    UBRR0L = (uint8_t)FF_AVR_UBRR;
    UCSR0A = (uint8_t)(1u << U2X0);
    UCSR0C = (uint8_t)((1u << UCSZ01) | (1u << UCSZ00)); /* 8N1 */
    UCSR0B = (uint8_t)(1u << TXEN0);
}

void ff_platform_putc(char c) {
    while ((UCSR0A & (1u << UDRE0)) == 0u) {
    }
    UDR0 = (uint8_t)c;
}

void ff_platform_exit(int status) {
    /* let the last character leave the shift register */
    while ((UCSR0A & (1u << UDRE0)) == 0u) {
    }
    GPIOR1 = (uint8_t)status;
    cli();
    SMCR = (uint8_t)(1u << SE);
    for (;;) {
        __asm__ volatile("sleep");
    }
}

__attribute__((noinline)) void ff_platform_mark_start(void) {
    GPIOR0 = 1u;
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void ff_platform_mark_stop(void) {
    __asm__ volatile("" ::: "memory");
    GPIOR0 = 2u;
}

__attribute__((noinline)) void ff_platform_mark_layer(void) {
    GPIOR0 = 3u;
    __asm__ volatile("" ::: "memory");
}

void ff_platform_stack(ff_stack_region *r) {
    r->guard = __heap_start;
    r->painted = __heap_start + FF_AVR_GUARD;
    r->top = (const volatile uint8_t *)(RAMEND + 1);
    r->bottom = r->top - (uintptr_t)__ff_stack_size;
}

static void put_str(const char *s) {
    while (*s) {
        ff_platform_putc(*s++);
    }
}

ISR(BADISR_vect) {
    put_str("\nff:fault BadInterrupt\n");
    ff_platform_exit(3);
}
