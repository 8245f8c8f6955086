/* Cortex-M startup: the vector table (initial stack pointer, reset handler, one handler per
 * fault that reports it), the reset handler (copy .data, zero .bss, enable the FPU for
 * hard-float builds, run main) and the memory functions gcc may call in freestanding code.
 *
 * gcc at -O2 recognises copy and fill loops and turns them into memcpy/memset calls: here that
 * would make memset call itself, and the reset handler call a library that is not there. The
 * pragma switches the transformation off for this file only; the kernels keep their codegen. */
#pragma GCC optimize("no-tree-loop-distribute-patterns")

#include <stddef.h>
#include <stdint.h>

#include "ff_platform.h"

#if defined(__ARM_FP) && !defined(FF_FPU)
#error "this build uses the FPU (hard or softfp float ABI): the board must define FF_FPU so the startup enables CP10/CP11"
#endif

int main(void);
void ff_reset_handler(void);
void ff_ram_image_entry(void);
void ff_cortexm_fault(const char *name); /* platform.c: prints "ff:fault <name>", exits 3 */

/* Symbols of link.ld (generated from the board's memory map). */
extern uint32_t __ff_stack_top[];
extern uint32_t __ff_data_start[], __ff_data_end[], __ff_data_load[];
extern uint32_t __ff_bss_start[], __ff_bss_end[];

#define FF_CPACR (*(volatile uint32_t *)0xE000ED88u)

void ff_reset_handler(void) {
    const uint32_t *src = __ff_data_load;
    for (uint32_t *dst = __ff_data_start; dst < __ff_data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __ff_bss_start; dst < __ff_bss_end;) {
        *dst++ = 0u;
    }
#if defined(FF_FPU)
    FF_CPACR |= 0xFu << 20; /* full access to CP10 and CP11 */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    ff_platform_exit(main());
}

#if defined(FF_RAM_IMAGE_ENTRY)
/* For a RAM image that is entered by a jump to its first byte (the RP2040 bootrom after
 * `picotool load -x`) instead of through a vector table: link.ld puts this stub first (and
 * makes it the ELF entry); it points VTOR at the vector table that follows, loads that table's
 * stack pointer and jumps to its reset handler. Thumb-1 only, so it runs on every M profile. */
__attribute__((naked, used, section(".ff_entry"))) void ff_ram_image_entry(void) {
    __asm__ volatile(
        "ldr r0, =ff_vector_table\n\t"
        "ldr r1, =0xE000ED08\n\t" /* VTOR */
        "str r0, [r1]\n\t"
        "ldr r1, [r0]\n\t"
        "mov sp, r1\n\t"
        "ldr r1, [r0, #4]\n\t"
        "bx r1\n\t"
        ".ltorg");
}
#endif

static void nmi_handler(void) { ff_cortexm_fault("NMI"); }
static void hardfault_handler(void) { ff_cortexm_fault("HardFault"); }
static void memmanage_handler(void) { ff_cortexm_fault("MemManage"); }
static void busfault_handler(void) { ff_cortexm_fault("BusFault"); }
static void usagefault_handler(void) { ff_cortexm_fault("UsageFault"); }
static void securefault_handler(void) { ff_cortexm_fault("SecureFault"); }
static void svcall_handler(void) { ff_cortexm_fault("SVCall"); }
static void debugmon_handler(void) { ff_cortexm_fault("DebugMon"); }
static void pendsv_handler(void) { ff_cortexm_fault("PendSV"); }
static void systick_handler(void) { ff_cortexm_fault("SysTick"); }
static void irq_handler(void) { ff_cortexm_fault("IRQ"); }

typedef void (*ff_vector)(void);

/* The firmware enables no interrupt; the first 32 external vectors still point at a handler
 * that reports them, so a stray one is named instead of jumping through garbage. */
#define FF_IRQ_VECTORS 32
#define FF_IRQ4 irq_handler, irq_handler, irq_handler, irq_handler
#define FF_IRQ16 FF_IRQ4, FF_IRQ4, FF_IRQ4, FF_IRQ4

struct ff_vector_table {
    uint32_t *initial_sp;
    ff_vector exceptions[15];
    ff_vector irqs[FF_IRQ_VECTORS];
};

__attribute__((section(".vectors"), used))
const struct ff_vector_table ff_vector_table = {
    __ff_stack_top,
    {ff_reset_handler, nmi_handler, hardfault_handler, memmanage_handler, busfault_handler,
     usagefault_handler, securefault_handler, 0, 0, 0, svcall_handler, debugmon_handler, 0,
     pendsv_handler, systick_handler},
    {FF_IRQ16, FF_IRQ16},
};
