/* RISC-V crt0 for firmforge firmware (M mode, no libc): stack pointer, global pointer, trap
 * vector, copy .data from flash, zero .bss, paint the stack and its guard, arm the guard, call
 * main, exit with its status. Plus the trap entry (reports the trap through ff_riscv_trap) and
 * the semihosting call sequence.
 *
 * The stack: link.ld reserves [__ff_stack_bottom, __ff_stack_top) above a 32-byte guard
 * [__ff_stack_guard, __ff_stack_bottom). Both are painted (ff_platform.h: FF_STACK_PAINT,
 * FF_STACK_GUARD) before main runs, so main.c can find the high-water mark and see an overflow
 * into the guard. PMP entry 1 (TOR, entry 0 its lower bound) then makes the trap zone below the
 * guard (link.ld: up to 64 KB below the RAM, 4 KB aligned) inaccessible and is locked, which
 * makes it bind M mode too: a stack that runs past the guard, or a frame that skips it, is an
 * access fault that ff_riscv_trap reports as a stack overflow. The zone is outside RAM and
 * whole emulated pages: it costs neither RAM nor emulation speed. FF_NO_STACK_TRAP leaves the
 * PMP alone (a part without one, or an application that programs it).
 *
 * The CSR instructions need Zicsr, which this assembler no longer implies for rv32imac, and
 * -march cannot name it without gcc choosing another multilib: hence `.option arch`. */
#include "ff_platform.h"

    .option arch, +zicsr

    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    la      sp, __ff_stack_top
    la      t0, ff_riscv_trap_entry
    csrw    mtvec, t0

    la      t0, __ff_data_load
    la      t1, __ff_data_start
    la      t2, __ff_data_end
1:  bgeu    t1, t2, 2f
    lw      t3, 0(t0)
    sw      t3, 0(t1)
    addi    t0, t0, 4
    addi    t1, t1, 4
    j       1b
2:  la      t1, __ff_bss_start
    la      t2, __ff_bss_end
3:  bgeu    t1, t2, 4f
    sw      zero, 0(t1)
    addi    t1, t1, 4
    j       3b
4:  la      t1, __ff_stack_guard
    la      t2, __ff_stack_bottom
    li      t3, FF_STACK_GUARD_WORD
5:  bgeu    t1, t2, 6f
    sw      t3, 0(t1)
    addi    t1, t1, 4
    j       5b
6:  la      t2, __ff_stack_top
    li      t3, FF_STACK_PAINT_WORD
7:  bgeu    t1, t2, 8f
    sw      t3, 0(t1)
    addi    t1, t1, 4
    j       7b
8:
#ifndef FF_NO_STACK_TRAP
    la      t0, __ff_trap_lo
    la      t1, __ff_stack_guard
    bgeu    t0, t1, 9f          /* no room below the guard: no trap zone */
    srli    t0, t0, 2
    csrw    pmpaddr0, t0
    srli    t1, t1, 2
    csrw    pmpaddr1, t1
    li      t0, 0x8800          /* pmp1cfg = L | A=TOR, no access; pmp0cfg = OFF (the lower bound) */
    csrw    pmpcfg0, t0
9:
#endif
    call    main
    call    ff_platform_exit
11: j       11b

/* Direct-mode trap vector (4-byte aligned): a fresh stack at the end of RAM, clear of the guard
 * and of a stack that overflowed (the old stack pointer goes to ff_riscv_trap through
 * mscratch; what the handler overwrites there, the end of .bss at most, is dead), then ff_riscv_trap(mcause, mepc, mtval, sp), which reports
 * and exits. Nothing returns from a trap in this firmware. */
    .section .text.ff_riscv_trap_entry, "ax"
    .balign 4
    .globl ff_riscv_trap_entry
ff_riscv_trap_entry:
    csrw    mscratch, sp
    la      sp, __ff_ram_end
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    csrr    a3, mscratch
    call    ff_riscv_trap
10: j       10b

/* int32_t ff_riscv_semihost(int32_t op, const void *arg): the RISC-V semihosting trap is an
 * ebreak between two marker instructions, all three uncompressed and in one page (the 16-byte
 * alignment guarantees that). */
    .section .text.ff_riscv_semihost, "ax"
    .balign 16
    .globl ff_riscv_semihost
ff_riscv_semihost:
    .option push
    .option norvc
    slli    zero, zero, 0x1f
    ebreak
    srai    zero, zero, 7
    .option pop
    ret
