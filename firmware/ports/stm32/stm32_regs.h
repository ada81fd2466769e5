/* The few STM32 / Cortex-M registers this port touches (from RM0008 for F1, RM0090/RM0390
 * for F4, and the ARMv7-M ARM), so no vendor headers are needed. */
#ifndef STM32_REGS_H
#define STM32_REGS_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* Cortex-M system control space. */
#define SYST_CSR      REG32(0xE000E010u)
#define SYST_RVR      REG32(0xE000E014u)
#define SYST_CVR      REG32(0xE000E018u)
#define SYST_CSR_ENABLE    (1u << 0)
#define SYST_CSR_TICKINT   (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)   /* processor clock */
#define NVIC_ISER(n)  REG32(0xE000E100u + 4u * (n))
#define NVIC_ICER(n)  REG32(0xE000E180u + 4u * (n))
#define NVIC_ICPR(n)  REG32(0xE000E280u + 4u * (n))
#define SCB_ICSR      REG32(0xE000ED04u)
#define SCB_VTOR      REG32(0xE000ED08u)
#define SCB_AIRCR     REG32(0xE000ED0Cu)
#define SCB_AIRCR_SYSRESETREQ (0x05FA0000u | (1u << 2))
#define SCB_SHCSR     REG32(0xE000ED24u)
#define SCB_CFSR      REG32(0xE000ED28u)
#define SCB_HFSR      REG32(0xE000ED2Cu)
#define SCB_MMFAR     REG32(0xE000ED34u)
#define SCB_BFAR      REG32(0xE000ED38u)
#define SCB_CPACR     REG32(0xE000ED88u)
#define DEMCR         REG32(0xE000EDFCu)
#define DEMCR_TRCENA  (1u << 24)
#define DWT_CTRL      REG32(0xE0001000u)
#define DWT_CYCCNT    REG32(0xE0001004u)

/* USART (same layout on F1, F2 and F4). */
#define USART_SR(b)   REG32((b) + 0x00u)
#define USART_DR(b)   REG32((b) + 0x04u)
#define USART_BRR(b)  REG32((b) + 0x08u)
#define USART_CR1(b)  REG32((b) + 0x0Cu)
#define USART_SR_ORE  (1u << 3)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE  (1u << 7)
#define USART_CR1_RE     (1u << 2)
#define USART_CR1_TE     (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_UE     (1u << 13)

/* General-purpose timer TIM2 (32-bit on F4). */
#define TIM2_BASE     0x40000000u
#define TIM2_CR1      REG32(TIM2_BASE + 0x00u)
#define TIM2_EGR      REG32(TIM2_BASE + 0x14u)
#define TIM2_CNT      REG32(TIM2_BASE + 0x24u)
#define TIM2_PSC      REG32(TIM2_BASE + 0x28u)
#define TIM2_ARR      REG32(TIM2_BASE + 0x2Cu)

#if defined(FX_STM32_F4)
#define RCC_BASE      0x40023800u
#define RCC_CR        REG32(RCC_BASE + 0x00u)
#define RCC_PLLCFGR   REG32(RCC_BASE + 0x04u)
#define RCC_CFGR      REG32(RCC_BASE + 0x08u)
#define RCC_AHB1ENR   REG32(RCC_BASE + 0x30u)
#define RCC_APB1ENR   REG32(RCC_BASE + 0x40u)
#define RCC_APB2ENR   REG32(RCC_BASE + 0x44u)
#define FLASH_ACR     REG32(0x40023C00u)
#define GPIOA_BASE    0x40020000u
#define GPIO_MODER(b) REG32((b) + 0x00u)
#define GPIO_PUPDR(b) REG32((b) + 0x0Cu)
#define GPIO_AFR(b, n) REG32((b) + 0x20u + 4u * (n))
#define USART1_BASE   0x40011000u
#define USART2_BASE   0x40004400u
#elif defined(FX_STM32_F1)
#define RCC_BASE      0x40021000u
#define RCC_CR        REG32(RCC_BASE + 0x00u)
#define RCC_CFGR      REG32(RCC_BASE + 0x04u)
#define RCC_APB2ENR   REG32(RCC_BASE + 0x18u)
#define RCC_APB1ENR   REG32(RCC_BASE + 0x1Cu)
#define FLASH_ACR     REG32(0x40022000u)
#define GPIOA_BASE    0x40010800u
#define GPIO_CR(b, n) REG32((b) + 4u * (n))   /* CRL (pins 0-7), CRH (pins 8-15) */
#define GPIO_ODR(b)   REG32((b) + 0x0Cu)
#define USART1_BASE   0x40013800u
#define USART2_BASE   0x40004400u
#else
#error "define FX_STM32_F1 or FX_STM32_F4 in the board's fx_board_config.h"
#endif

/* The board's serial port (FX_STM32_USART in fx_board_config.h). */
#if FX_STM32_USART == 1
#define UART_BASE     USART1_BASE
#define UART_IRQ      37
#elif FX_STM32_USART == 2
#define UART_BASE     USART2_BASE
#define UART_IRQ      38
#else
#error "FX_STM32_USART must be 1 or 2"
#endif

#define RCC_CR_HSEON  (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_PLLON  (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)

#endif
