/* bluepill_f103c8: STM32F103C8 (Cortex-M3, no FPU, 20 KiB RAM); USART1 on PA9 (TX) / PA10
 * (RX) through a USB-serial adapter, 115200 8N1. */
#ifndef FX_BOARD_CONFIG_H
#define FX_BOARD_CONFIG_H

#define FX_BOARD_NAME           "bluepill_f103c8"
#define FX_BOARD_FLASH_BYTES    (64u * 1024u)
#define FX_BOARD_RAM_BYTES      (20u * 1024u)
#define FX_BOARD_RX_BUFFER_SIZE 512u

/* Firmware app (firmware/app/fx_app_config.h includes this file through
 * FX_APP_CONFIG_HEADER): 20 KiB of RAM, the default profile. The model store lives in
 * .noinit, which the startup code leaves alone, so a committed model survives a software
 * reset. */
#define FX_APP_NOINIT           __attribute__((section(".noinit")))
#define FX_APP_KEEPS_MODEL      1

/* Port (firmware/ports/stm32): HSE 8 MHz -> PLL 72 MHz, DWT cycle counter. */
#define FX_STM32_F1             1
#define FX_STM32_USART          1
#define FX_STM32_COUNTER_DWT    1

#endif
