/* The few services a firmware family provides to the common main.c: a character sink, an exit
 * with a status, an optional instruction/cycle counter and the bounds of the stack. No printf
 * anywhere. Assembly files may include this header for the FF_STACK_* constants. */
#ifndef FF_PLATFORM_H
#define FF_PLATFORM_H

/* The startup fills the reserved stack with FF_STACK_PAINT and the guard below it with
 * FF_STACK_GUARD (a byte pattern, written a word at a time on 32-bit families): the lowest byte
 * that no longer holds the paint is the stack's high-water mark, and a guard byte that changed
 * is an overflow. */
#define FF_STACK_PAINT 0xC5u
#define FF_STACK_PAINT_WORD 0xC5C5C5C5
#define FF_STACK_GUARD 0x5Au
#define FF_STACK_GUARD_WORD 0x5A5A5A5A
/* main.c's exit status after a stack overflow (faults exit with 3) */
#define FF_EXIT_STACK_OVERFLOW 5

#ifndef __ASSEMBLER__
#include <stdint.h>

void ff_platform_init(void);
void ff_platform_putc(char c);
void ff_platform_exit(int status);
/* Called right before and after each inference; families with an external counter (a QEMU
 * plugin watching these addresses, simavr) implement them as empty non-inlined marks. */
void ff_platform_mark_start(void);
void ff_platform_mark_stop(void);
/* Called by the generated model between its kernel calls in profile builds only. */
void ff_platform_mark_layer(void);

/* The stack the firmware runs on: [guard, painted) holds FF_STACK_GUARD, [painted, top)
 * FF_STACK_PAINT from startup on, and [bottom, top) is the reserved stack (bottom == painted,
 * except on AVR, whose stack may grow past its budget down to the guard above .bss). A family
 * that does not measure its stack (the host) sets every pointer to 0. */
typedef struct {
    const volatile uint8_t *guard;
    const volatile uint8_t *painted;
    const volatile uint8_t *bottom;
    const volatile uint8_t *top;
} ff_stack_region;

void ff_platform_stack(ff_stack_region *r);
#endif

#endif /* FF_PLATFORM_H */
