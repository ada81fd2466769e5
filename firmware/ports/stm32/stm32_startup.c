/* Cortex-M startup for the STM32 port: vector table, reset handler (.data/.bss set-up, FPU
 * enable, stack painting), and the fault handler that reports over the serial port. */
#include "fx_board_config.h"
#include "stm32_regs.h"
#include "fx_port.h"

/* From the linker script (boards/cortexm_sections.ld). */
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

int main(void);
void fx_stm32_reset(void);
void fx_stm32_fault(void);
void fx_stm32_usart_irq(void);
void fx_stm32_systick_irq(void);

/* The table ends at the highest interrupt used, the USART's. Everything unexpected (NMI,
 * faults, SVC, other interrupts) goes to the fault reporter. */
typedef void (*fx_vector)(void);
__attribute__((section(".isr_vector"), used))
const fx_vector fx_stm32_vectors[16 + UART_IRQ + 1] = {
    [0] = (fx_vector)(uintptr_t)&_estack,
    [1] = fx_stm32_reset,
    [2 ... 6] = fx_stm32_fault,                  /* NMI, HardFault, MemManage, Bus, Usage */
    [11 ... 12] = fx_stm32_fault,                /* SVCall, DebugMonitor */
    [14] = fx_stm32_fault,                       /* PendSV */
    [15] = fx_stm32_systick_irq,
    [16 ... 16 + UART_IRQ - 1] = fx_stm32_fault,
    [16 + UART_IRQ] = fx_stm32_usart_irq,
};

void fx_stm32_reset(void)
{
    for (uint32_t *src = &_sidata, *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0u;
    }
    SCB_VTOR = (uint32_t)(uintptr_t)fx_stm32_vectors;
#if defined(__ARM_FP)
    SCB_CPACR |= 0xFu << 20;                     /* CP10, CP11: full access to the FPU */
    __asm volatile ("dsb\n isb" ::: "memory");
#endif
    uint32_t *sp;
    __asm volatile ("mov %0, sp" : "=r"(sp));
    fx_port_paint_stack(&_ebss, sp);
    (void)main();
    for (;;) {
        __asm volatile ("wfi");
    }
}

size_t fx_port_stack_peak(void)
{
    size_t size = (size_t)((uintptr_t)&_estack - (uintptr_t)&_ebss);
    return size - fx_port_unused_stack(&_ebss, &_estack);
}

/* ---- faults ------------------------------------------------------------------------------ */

void fx_stm32_fault_report(const uint32_t *frame);

/* Which stack holds the exception frame (EXC_RETURN bit 2), then report in C. */
__attribute__((naked)) void fx_stm32_fault(void)
{
    __asm volatile (
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "b fx_stm32_fault_report\n");
}

void fx_stm32_fault_report(const uint32_t *frame)
{
    uint32_t ipsr;
    __asm volatile ("mrs %0, ipsr" : "=r"(ipsr));
    fx_port_fault_puts("\r\nFXFAULT cortex-m");
    fx_port_fault_hex("exception", ipsr & 0x1FFu);
    fx_port_fault_hex("pc", frame[6]);
    fx_port_fault_hex("lr", frame[5]);
    fx_port_fault_hex("xpsr", frame[7]);
    fx_port_fault_hex("cfsr", SCB_CFSR);
    fx_port_fault_hex("hfsr", SCB_HFSR);
    fx_port_fault_hex("bfar", SCB_BFAR);
    fx_port_fault_puts("\r\n");
    /* Halt quietly: no tick, no interrupt left pending, so wfi really sleeps (an emulator
     * then idles instead of spinning a host core). */
    SYST_CSR = 0u;
    for (uint32_t i = 0; i < 8u; i++) {
        NVIC_ICER(i) = 0xFFFFFFFFu;
        NVIC_ICPR(i) = 0xFFFFFFFFu;
    }
    for (;;) {
        __asm volatile ("wfi");
    }
}
