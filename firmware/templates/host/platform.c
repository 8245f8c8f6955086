/* Host family: stdout and exit(). Used for sanitizer runs of the generated code. */
#include <stdio.h>
#include <stdlib.h>

#include "ff_platform.h"

void ff_platform_init(void) {}

void ff_platform_putc(char c) { putchar(c); }

void ff_platform_exit(int status) {
    fflush(stdout);
    exit(status);
}

void ff_platform_mark_start(void) {}

void ff_platform_mark_stop(void) {}

void ff_platform_mark_layer(void) {}

/* The host's stack is the operating system's: not measured here. */
void ff_platform_stack(ff_stack_region *r) {
    r->guard = r->painted = r->bottom = r->top = 0;
}
