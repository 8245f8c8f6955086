/* Cortex-M startup: the vector table (initial stack pointer, reset handler, and for every fault
 * and interrupt one handler that reports it by name), the reset handler (paint the stack,
 * switch to it, copy .data, zero .bss, arm the stack guard, enable the FPU for hard-float
 * builds, run main).
 *
 * The stack. link.ld reserves [__ff_stack_bottom, __ff_stack_top) with a 32-byte guard
 * [__ff_stack_guard, __ff_stack_bottom) below it, at the bottom of RAM. The reset handler paints
 * both (ff_platform.h: FF_STACK_PAINT, FF_STACK_GUARD) before anything runs on them, then runs
 * the program on the process stack (PSP) and leaves the main stack (MSP) to the fault handlers:
 * an exception taken because the process stack overflowed is stacked on the process stack (and
 * may fault doing so), but its handler runs on MSP and can still report it. MSP starts at the
 * end of RAM (the vector table's initial SP), clear of the guard whatever the stack's size: no
 * interrupt is enabled, and a fault handler only reports and exits, so what it overwrites
 * there (the end of .bss, at most) is dead.
 * An overflow of more than the guard then traps where the core can:
 *   - ARMv8-M Mainline (M33): PSPLIM = __ff_stack_bottom; moving SP below it is a UsageFault
 *     (STKOF) before anything is written, however large the frame;
 *   - ARMv7-M (M3, M4, M7) with an MPU: MPU region 0 makes the trap zone below the guard
 *     (link.ld: up to 64 KB below the RAM, power-of-two sized and aligned as the MPU needs)
 *     inaccessible, with the privileged default map everywhere else: a push that went past the
 *     guard, or a frame that skipped it, is a MemManage fault. The zone is outside RAM and
 *     whole emulated pages, so it costs neither RAM nor emulation speed;
 *   - elsewhere (ARMv6-M) only main.c's guard check after each inference sees it.
 * An overflow into the guard alone is found by that check on every core.
 * FF_NO_STACK_TRAP leaves the MPU and PSPLIM alone (for an application that programs them).
 *
 * gcc at -O2 recognises copy and fill loops and turns them into memcpy/memset calls: the reset
 * handler would then call them before .data and .bss exist. The pragma switches the
 * transformation off for this file only; the kernels keep their codegen. */
#pragma GCC optimize("no-tree-loop-distribute-patterns")

#include <stddef.h>
#include <stdint.h>

#include "ff_platform.h"

#if defined(__ARM_FP) && !defined(FF_FPU)
#error "this build uses the FPU (hard or softfp float ABI): the board must define FF_FPU so the startup enables CP10/CP11"
#endif

#define FF_STR_(x) #x
#define FF_STR(x) FF_STR_(x)

int main(void);
void ff_reset_handler(void);
void ff_startup(void);
void ff_ram_image_entry(void);
void ff_cortexm_fault(const char *name); /* platform.c: prints "ff:fault <name>", exits 3 */

/* Symbols of link.ld (generated from the board's memory map). */
extern uint32_t __ff_stack_guard[], __ff_stack_bottom[], __ff_stack_top[], __ff_ram_end[];
extern uint32_t __ff_trap_lo[];
extern uint32_t __ff_data_start[], __ff_data_end[], __ff_data_load[];
extern uint32_t __ff_bss_start[], __ff_bss_end[];

#define FF_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define FF_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define FF_MPU_TYPE (*(volatile uint32_t *)0xE000ED90u)
#define FF_MPU_CTRL (*(volatile uint32_t *)0xE000ED94u)
#define FF_MPU_RNR (*(volatile uint32_t *)0xE000ED98u)
#define FF_MPU_RBAR (*(volatile uint32_t *)0xE000ED9Cu)
#define FF_MPU_RASR (*(volatile uint32_t *)0xE000EDA0u)

/* Paints the guard and the stack a word at a time (nothing is on either yet: no C code has
 * run), points PSP at the top and makes thread mode use it, then continues in C. Thumb-1
 * instructions only, so it runs on every M profile. */
__attribute__((naked, noreturn)) void ff_reset_handler(void) {
    __asm__(
        ".syntax unified\n\t" /* gcc hands Thumb-1 inline assembly over in divided syntax */
        "ldr r0, =__ff_stack_guard\n\t"
        "ldr r1, =__ff_stack_bottom\n\t"
        "ldr r2, =" FF_STR(FF_STACK_GUARD_WORD) "\n"
        "1:\n\t"
        "cmp r0, r1\n\t"
        "bhs 2f\n\t"
        "str r2, [r0]\n\t"
        "adds r0, #4\n\t"
        "b 1b\n"
        "2:\n\t"
        "ldr r1, =__ff_stack_top\n\t"
        "ldr r2, =" FF_STR(FF_STACK_PAINT_WORD) "\n"
        "3:\n\t"
        "cmp r0, r1\n\t"
        "bhs 4f\n\t"
        "str r2, [r0]\n\t"
        "adds r0, #4\n\t"
        "b 3b\n"
        "4:\n\t"
        "msr psp, r1\n\t"
        "movs r0, #2\n\t" /* CONTROL.SPSEL: thread mode runs on PSP */
        "msr control, r0\n\t"
        "isb\n\t"
        "bl ff_startup\n\t"
        ".ltorg");
}

/* Arms the hardware check of the stack (see the top of this file). The fault handler enables
 * (SHCSR) let MemManage, BusFault and UsageFault report under their own names. */
static void stack_trap(void) {
#if !defined(FF_NO_STACK_TRAP)
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
    __asm__ volatile("msr psplim, %0\n\tisb" : : "r"(__ff_stack_bottom) : "memory");
    FF_SHCSR |= 7u << 16;
#elif defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
    uint32_t hi = (uint32_t)(uintptr_t)__ff_stack_guard;
    uint32_t lo = (uint32_t)(uintptr_t)__ff_trap_lo;
    uint32_t k = 16u; /* the largest zone, 2^k bytes, that is aligned and ends at the guard */
    while (k >= 5u && (hi % (1u << k) != 0u || lo > hi || hi - lo < (1u << k))) {
        k--;
    }
    FF_SHCSR |= 7u << 16;
    if (((FF_MPU_TYPE >> 8) & 0xFFu) != 0u && k >= 5u) { /* DREGION: the core has an MPU */
        FF_MPU_RNR = 0u;
        FF_MPU_RBAR = hi - (1u << k);
        /* XN, AP = 0 (no access), TEX = 0b001 (normal, non-cacheable), SIZE = k - 1, ENABLE */
        FF_MPU_RASR = (1u << 28) | (1u << 19) | ((k - 1u) << 1) | 1u;
        FF_MPU_CTRL = 5u; /* PRIVDEFENA | ENABLE: the default map everywhere else */
        __asm__ volatile("dsb\n\tisb" ::: "memory");
    }
#endif
#endif
}

void ff_startup(void) {
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
    stack_trap();
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

/* The name of each exception number (IPSR), NUL-separated: 2 NMI ... 15 SysTick, "" for the
 * numbers that have no exception, then "IRQ" for every number from 16. */
static const char fault_names[] =
    "\0\0NMI\0HardFault\0MemManage\0BusFault\0UsageFault\0SecureFault\0\0\0\0SVCall\0"
    "DebugMon\0\0PendSV\0SysTick\0IRQ";

/* Every fault and stray interrupt of the vector table ends here and reports itself by the name
 * of the exception being taken (IPSR's number, read on entry): one handler and one string
 * instead of a handler per vector. */
static void fault_handler(void) {
    uint32_t n;
    __asm__ volatile("mrs %0, ipsr" : "=r"(n));
    n &= 0x1FFu;
    const char *name = fault_names;
    for (n = n < 16u ? n : 16u; n > 0u; n--) {
        while (*name++ != '\0') {
        }
    }
    ff_cortexm_fault(name);
}

typedef void (*ff_vector)(void);

/* The firmware enables no interrupt; the first 32 external vectors still point at a handler
 * that reports them, so a stray one is named instead of jumping through garbage. */
#define FF_IRQ_VECTORS 32
#define FF_IRQ4 fault_handler, fault_handler, fault_handler, fault_handler
#define FF_IRQ16 FF_IRQ4, FF_IRQ4, FF_IRQ4, FF_IRQ4

struct ff_vector_table {
    uint32_t *initial_sp; /* MSP: the fault handlers' stack */
    ff_vector exceptions[15];
    ff_vector irqs[FF_IRQ_VECTORS];
};

__attribute__((section(".vectors"), used))
const struct ff_vector_table ff_vector_table = {
    __ff_ram_end,
    {ff_reset_handler, fault_handler, fault_handler, fault_handler, fault_handler, fault_handler,
     fault_handler, 0, 0, 0, fault_handler, fault_handler, 0, fault_handler, fault_handler},
    {FF_IRQ16, FF_IRQ16},
};
