/* RISC-V crt0 for firmforge firmware (M mode, no libc): stack pointer, global pointer, trap
 * vector, copy .data from flash, zero .bss, call main, exit with its status. Plus the trap
 * entry (reports the trap through ff_riscv_trap) and the semihosting call sequence.
 *
 * The CSR instructions need Zicsr, which this assembler no longer implies for rv32imac, and
 * -march cannot name it without gcc choosing another multilib: hence `.option arch`. */
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
4:  call    main
    call    ff_platform_exit
5:  j       5b

/* Direct-mode trap vector (4-byte aligned): a fresh stack, then ff_riscv_trap(mcause, mepc,
 * mtval), which reports and exits. Nothing returns from a trap in this firmware. */
    .section .text.ff_riscv_trap_entry, "ax"
    .balign 4
    .globl ff_riscv_trap_entry
ff_riscv_trap_entry:
    la      sp, __ff_stack_top
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    call    ff_riscv_trap
6:  j       6b

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
