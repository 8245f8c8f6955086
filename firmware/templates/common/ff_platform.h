/* The few services a firmware family provides to the common main.c: a character sink, an exit
 * with a status, and an optional instruction/cycle counter. No printf anywhere. */
#ifndef FF_PLATFORM_H
#define FF_PLATFORM_H

#include <stdint.h>

void ff_platform_init(void);
void ff_platform_putc(char c);
void ff_platform_exit(int status);
/* Called right before and after each inference; families with an external counter (a QEMU
 * plugin watching these addresses, simavr) implement them as empty non-inlined marks. */
void ff_platform_mark_start(void);
void ff_platform_mark_stop(void);

#endif /* FF_PLATFORM_H */
