/* qemu_f405: QEMU netduinoplus2 (STM32F405RG, Cortex-M4F), USART1 = QEMU's first -serial. */
#ifndef FX_BOARD_CONFIG_H
#define FX_BOARD_CONFIG_H

#define FX_BOARD_NAME           "qemu_f405"
#define FX_BOARD_FLASH_BYTES    (1024u * 1024u)
#define FX_BOARD_RAM_BYTES      (128u * 1024u)
#define FX_BOARD_RX_BUFFER_SIZE 1024u

/* Firmware app (firmware/app/fx_app_config.h includes this file through
 * FX_APP_CONFIG_HEADER): 128 KiB of RAM. The model store lives in .noinit, which the
 * startup code leaves alone, so a committed model survives a software reset. */
#define FX_APP_PROFILE_LARGE    1
#define FX_APP_NOINIT           __attribute__((section(".noinit")))
#define FX_APP_KEEPS_MODEL      1

/* Port (firmware/ports/stm32). QEMU models no RCC and runs the core at a fixed 168 MHz; its
 * TIM2 runs at 1 GHz of virtual time, i.e. one count per instruction under -icount shift=0. */
#define FX_STM32_F4             1
#define FX_STM32_USART          1
#define FX_STM32_QEMU_CLOCKS    1
#define FX_STM32_SYSCLK_HZ      168000000u
#define FX_STM32_COUNTER_TIM2   1

#endif
