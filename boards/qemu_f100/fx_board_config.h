/* qemu_f100: QEMU stm32vldiscovery (STM32F100RB, Cortex-M3, 8 KiB RAM), USART1 = QEMU's
 * first -serial. */
#ifndef FX_BOARD_CONFIG_H
#define FX_BOARD_CONFIG_H

#define FX_BOARD_NAME           "qemu_f100"
#define FX_BOARD_FLASH_BYTES    (128u * 1024u)
#define FX_BOARD_RAM_BYTES      (8u * 1024u)
#define FX_BOARD_RX_BUFFER_SIZE 128u  /* lossless anyway: the port flow-controls QEMU */

/* Firmware app (firmware/app/fx_app_config.h includes this file through
 * FX_APP_CONFIG_HEADER): 8 KiB of RAM. The model store lives in .noinit, which the
 * startup code leaves alone, so a committed model survives a software reset. */
#define FX_APP_PROFILE_SMALL    1
#define FX_APP_MODEL_MAX        2368u   /* the 64-24-10 digits MLP blob (2360 bytes) */
#define FX_APP_RX_FRAME_MAX     1100u   /* a BATCH of 16 8x8 int8 digits, as on bigger boards */
#define FX_APP_WINDOW           8u      /* frames in flight wait in QEMU (port flow control) */
#define FX_APP_NOINIT           __attribute__((section(".noinit")))
#define FX_APP_KEEPS_MODEL      1

/* Port (firmware/ports/stm32). QEMU runs the core at a fixed 24 MHz and models no timer on
 * this machine, so the counter is virtual microseconds from SysTick (1 us = 1000
 * instructions under -icount shift=0). */
#define FX_STM32_F1             1
#define FX_STM32_USART          1
#define FX_STM32_QEMU_CLOCKS    1
#define FX_STM32_SYSCLK_HZ      24000000u

#endif
