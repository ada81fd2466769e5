/* STM32 board layer, register level (no vendor HAL): clocks, USART with interrupt-driven
 * receive into a ring, SysTick millisecond tick, wfi idle, the instruction/cycle counter.
 * The board's fx_board_config.h picks family, USART, clock source and counter. */
#include "fx_board_config.h"
#include "stm32_regs.h"
#include "fx_board.h"
#include "fx_port.h"
#include "fx_ring.h"

#define FX_BAUD 115200u

static fx_ring rx_ring;
static volatile uint32_t ms_ticks;
static uint32_t core_hz;

/* ---- clocks ------------------------------------------------------------------------------
 * QEMU models no RCC (its registers read 0), so emulated boards keep the fixed clock the
 * machine emulates. Real boards switch to the PLL and fall back to the reset clock (HSI) if
 * an oscillator or the PLL does not become ready: the board still talks, only slower. */

static uint32_t uart_clock_hz;

#if !defined(FX_STM32_QEMU_CLOCKS)
static int wait_ready(volatile uint32_t *reg, uint32_t mask, uint32_t want)
{
    for (uint32_t i = 0; i < 200000u; i++) {
        if ((*reg & mask) == want) {
            return 1;
        }
    }
    return 0;
}
#endif

#if defined(FX_STM32_QEMU_CLOCKS)
static void clocks_init(void)
{
    core_hz = FX_STM32_SYSCLK_HZ;
    uart_clock_hz = FX_STM32_SYSCLK_HZ;  /* the emulated USART ignores the baud rate */
}
#elif defined(FX_STM32_F4)
/* HSI 16 MHz -> PLL: M=8 (2 MHz), N=168 (VCO 336 MHz), P=2 -> 168 MHz, Q=7 (48 MHz);
 * AHB /1, APB1 /4 = 42 MHz, APB2 /2 = 84 MHz; 5 flash wait states (168 MHz at 3.3 V). */
static void clocks_init(void)
{
    core_hz = 16000000u;
    uart_clock_hz = 16000000u;
    FLASH_ACR = (1u << 8) | (1u << 9) | (1u << 10) | 5u;  /* prefetch, I/D caches, 5 WS */
    if ((FLASH_ACR & 0xFu) != 5u) {
        return;
    }
    RCC_CFGR = (5u << 10) | (4u << 13);                    /* PPRE1 /4, PPRE2 /2, SW = HSI */
    RCC_PLLCFGR = 8u | (168u << 6) | (0u << 16) | (7u << 24) | (2u << 28);
    RCC_CR |= RCC_CR_PLLON;
    if (!wait_ready(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
        RCC_CR &= ~RCC_CR_PLLON;
        RCC_CFGR = 0u;
        return;
    }
    RCC_CFGR |= 2u;                                        /* SW = PLL */
    if (!wait_ready(&RCC_CFGR, 0xCu, 0x8u)) {
        RCC_CFGR = 0u;
        return;
    }
    core_hz = 168000000u;
    uart_clock_hz = FX_STM32_USART == 1 ? 84000000u : 42000000u;
}
#elif defined(FX_STM32_F1)
/* HSE 8 MHz crystal -> PLL x9 = 72 MHz; APB1 /2 = 36 MHz, APB2 /1 = 72 MHz; 2 wait states. */
static void clocks_init(void)
{
    core_hz = 8000000u;
    uart_clock_hz = 8000000u;
    RCC_CR |= RCC_CR_HSEON;
    if (!wait_ready(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY)) {
        RCC_CR &= ~RCC_CR_HSEON;
        return;
    }
    FLASH_ACR = (1u << 4) | 2u;                            /* prefetch, 2 WS */
    RCC_CFGR = (1u << 16) | (7u << 18) | (4u << 8);        /* PLLSRC = HSE, x9, PPRE1 /2 */
    RCC_CR |= RCC_CR_PLLON;
    if (!wait_ready(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
        RCC_CR &= ~(RCC_CR_PLLON | RCC_CR_HSEON);
        RCC_CFGR = 0u;
        return;
    }
    RCC_CFGR |= 2u;                                        /* SW = PLL */
    if (!wait_ready(&RCC_CFGR, 0xCu, 0x8u)) {
        RCC_CFGR = 0u;
        return;
    }
    core_hz = 72000000u;
    uart_clock_hz = FX_STM32_USART == 1 ? 72000000u : 36000000u;
}
#endif

/* ---- USART ---------------------------------------------------------------------------- */

static void uart_pins_and_clock(void)
{
#if defined(FX_STM32_F4)
    RCC_AHB1ENR |= 1u;                                     /* GPIOA */
#if FX_STM32_USART == 1
    RCC_APB2ENR |= 1u << 4;
    /* PA9 TX, PA10 RX: alternate function 7, pull-up on RX */
    GPIO_MODER(GPIOA_BASE) = (GPIO_MODER(GPIOA_BASE) & ~(0xFu << 18)) | (0xAu << 18);
    GPIO_PUPDR(GPIOA_BASE) = (GPIO_PUPDR(GPIOA_BASE) & ~(3u << 20)) | (1u << 20);
    GPIO_AFR(GPIOA_BASE, 1) = (GPIO_AFR(GPIOA_BASE, 1) & ~(0xFFu << 4)) | (0x77u << 4);
#else
    RCC_APB1ENR |= 1u << 17;
    /* PA2 TX, PA3 RX (the ST-LINK virtual COM port on Nucleo-64): AF7, pull-up on RX */
    GPIO_MODER(GPIOA_BASE) = (GPIO_MODER(GPIOA_BASE) & ~(0xFu << 4)) | (0xAu << 4);
    GPIO_PUPDR(GPIOA_BASE) = (GPIO_PUPDR(GPIOA_BASE) & ~(3u << 6)) | (1u << 6);
    GPIO_AFR(GPIOA_BASE, 0) = (GPIO_AFR(GPIOA_BASE, 0) & ~(0xFFu << 8)) | (0x77u << 8);
#endif
#else
    RCC_APB2ENR |= 1u << 2;                                /* GPIOA */
#if FX_STM32_USART == 1
    RCC_APB2ENR |= 1u << 14;
    /* PA9 TX: AF push-pull 50 MHz (0xB); PA10 RX: input with pull-up (0x8, ODR = 1) */
    GPIO_CR(GPIOA_BASE, 1) = (GPIO_CR(GPIOA_BASE, 1) & ~(0xFFu << 4)) | (0x8Bu << 4);
    GPIO_ODR(GPIOA_BASE) |= 1u << 10;
#else
    RCC_APB1ENR |= 1u << 17;
    GPIO_CR(GPIOA_BASE, 0) = (GPIO_CR(GPIOA_BASE, 0) & ~(0xFFu << 8)) | (0x8Bu << 8);
    GPIO_ODR(GPIOA_BASE) |= 1u << 3;
#endif
#endif
}

static void uart_init(void)
{
    uart_pins_and_clock();
    USART_BRR(UART_BASE) = (uart_clock_hz + FX_BAUD / 2u) / FX_BAUD;
    USART_CR1(UART_BASE) = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    NVIC_ISER(UART_IRQ / 32) = 1u << (UART_IRQ % 32);
}

/* Receive interrupt. With the ring full it stops listening instead of dropping: the byte
 * waits in DR and the main loop re-enables the interrupt once it has read. An emulator then
 * holds further input back (lossless flow control); real hardware overruns, counted as ORE.
 * Masked in the NVIC, not with RXNEIE: QEMU 7.2 keeps the USART's line raised when RXNEIE is
 * cleared, which would re-enter this handler forever. */
void fx_stm32_usart_irq(void)
{
    uint32_t sr = USART_SR(UART_BASE);
    while (sr & (USART_SR_RXNE | USART_SR_ORE)) {
        if (fx_ring_full(&rx_ring)) {
            NVIC_ICER(UART_IRQ / 32) = 1u << (UART_IRQ % 32);
            return;
        }
        uint8_t byte = (uint8_t)USART_DR(UART_BASE);      /* reading DR clears RXNE and ORE */
        if (sr & USART_SR_ORE) {
            rx_ring.dropped++;                             /* the hardware lost a byte */
        }
        if (sr & USART_SR_RXNE) {
            fx_ring_push(&rx_ring, byte);
        }
        sr = USART_SR(UART_BASE);
    }
}

static void uart_putc(uint8_t byte)
{
    while (!(USART_SR(UART_BASE) & USART_SR_TXE)) {
    }
    USART_DR(UART_BASE) = byte;
}

/* ---- tick and counter ----------------------------------------------------------------- */

void fx_stm32_systick_irq(void)
{
    ms_ticks++;
}

static void counter_init(void)
{
#if defined(FX_STM32_COUNTER_TIM2)
    /* Prescaler 0 at the timer's input clock. QEMU clocks it at 1 GHz of virtual time, and
     * -icount shift=0 makes one instruction last 1 ns: one count per instruction. */
    RCC_APB1ENR |= 1u;
    TIM2_PSC = 0u;
    TIM2_ARR = 0xFFFFFFFFu;
    TIM2_EGR = 1u;                                         /* load the prescaler */
    TIM2_CR1 = 1u;
#elif defined(FX_STM32_COUNTER_DWT)
    DEMCR |= DEMCR_TRCENA;
    DWT_CYCCNT = 0u;
    DWT_CTRL |= 1u;
#endif
}

uint32_t fx_board_counter(void)
{
#if defined(FX_STM32_COUNTER_TIM2)
    return TIM2_CNT;
#elif defined(FX_STM32_COUNTER_DWT)
    return DWT_CYCCNT;
#else
    /* Microseconds from the millisecond tick and the SysTick down-counter; retried when a
     * tick interrupt lands between the two reads. */
    uint32_t ms, left;
    do {
        ms = ms_ticks;
        left = SYST_CVR;
    } while (ms != ms_ticks);
    uint32_t per_us = core_hz / 1000000u;
    return ms * 1000u + (SYST_RVR - left) / per_us;
#endif
}

fx_counter_kind fx_board_counter_kind(void)
{
#if defined(FX_STM32_COUNTER_TIM2)
    return FX_COUNTER_INSTRUCTIONS;
#elif defined(FX_STM32_COUNTER_DWT)
    return FX_COUNTER_CYCLES;
#else
    return FX_COUNTER_MICROSECONDS;
#endif
}

/* ---- fx_board.h ------------------------------------------------------------------------ */

void fx_board_init(void)
{
    clocks_init();
    uart_init();
    counter_init();
    SYST_RVR = core_hz / 1000u - 1u;
    SYST_CVR = 0u;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
}

void fx_board_write(const uint8_t *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uart_putc(data[i]);
    }
}

size_t fx_board_read(uint8_t *buf, size_t cap)
{
    size_t n = fx_ring_pop(&rx_ring, buf, cap);
    NVIC_ISER(UART_IRQ / 32) = 1u << (UART_IRQ % 32);      /* room again: resume receiving */
    return n;
}

void fx_board_idle(void)
{
    /* Masked check-then-sleep: a byte arriving after the check still ends the wfi, and the
     * interrupt runs as soon as it is unmasked. The 1 ms tick bounds the sleep. */
    __asm volatile ("cpsid i" ::: "memory");
    if (fx_ring_empty(&rx_ring)) {
        __asm volatile ("dsb\n wfi" ::: "memory");
    }
    __asm volatile ("cpsie i\n isb" ::: "memory");
}

uint32_t fx_board_millis(void)
{
    return ms_ticks;
}

const char *fx_board_name(void)
{
    return FX_BOARD_NAME;
}

void fx_board_reset(void)
{
    __asm volatile ("dsb" ::: "memory");
    SCB_AIRCR = SCB_AIRCR_SYSRESETREQ;
    __asm volatile ("dsb" ::: "memory");
    for (;;) {
    }
}

/* ---- fx_port.h --------------------------------------------------------------------------- */

uint32_t fx_port_rx_dropped(void)
{
    return rx_ring.dropped;
}

void fx_port_fault_puts(const char *s)
{
    while (*s) {
        uart_putc((uint8_t)*s++);
    }
}
