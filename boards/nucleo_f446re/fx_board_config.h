/* nucleo_f446re: STM32F446RE (Cortex-M4F) on a Nucleo-64; USART2 (PA2/PA3) is the ST-LINK
 * virtual COM port, 115200 8N1. */
#ifndef FX_BOARD_CONFIG_H
#define FX_BOARD_CONFIG_H

#define FX_BOARD_NAME           "nucleo_f446re"
#define FX_BOARD_FLASH_BYTES    (512u * 1024u)
#define FX_BOARD_RAM_BYTES      (128u * 1024u)
#define FX_BOARD_RX_BUFFER_SIZE 2048u

/* Firmware app (firmware/app/fx_app_config.h includes this file through
 * FX_APP_CONFIG_HEADER): 128 KiB of RAM. The model store lives in .noinit, which the
 * startup code leaves alone, so a committed model survives a software reset. */
#define FX_APP_PROFILE_LARGE    1
#define FX_APP_NOINIT           __attribute__((section(".noinit")))
#define FX_APP_KEEPS_MODEL      1

/* Port (firmware/ports/stm32): HSI -> PLL 168 MHz, DWT cycle counter. */
#define FX_STM32_F4             1
#define FX_STM32_USART          2
#define FX_STM32_COUNTER_DWT    1

#endif
