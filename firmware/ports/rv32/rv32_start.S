/* Reset entry for the QEMU virt rv32 board: global and stack pointers, .data copy, .bss
 * zero, then C (fx_rv32_start). QEMU's -bios none reset vector jumps here with hart 0. */
    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    la      sp, _estack

    la      t0, _sidata
    la      t1, _sdata
    la      t2, _edata
1:  bgeu    t1, t2, 2f
    lw      t3, 0(t0)
    sw      t3, 0(t1)
    addi    t0, t0, 4
    addi    t1, t1, 4
    j       1b

2:  la      t0, _sbss
    la      t1, _ebss
3:  bgeu    t0, t1, 4f
    sw      zero, 0(t0)
    addi    t0, t0, 4
    j       3b

4:  call    fx_rv32_start
5:  wfi
    j       5b
