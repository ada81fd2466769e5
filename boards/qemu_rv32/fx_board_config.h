/* qemu_rv32: QEMU riscv32 virt machine (rv32imac), NS16550 UART at 0x10000000 = -serial 0.
 * Stands in for the ESP32-C3's RISC-V core to check the firmware on that instruction set. */
#ifndef FX_BOARD_CONFIG_H
#define FX_BOARD_CONFIG_H

#define FX_BOARD_NAME           "qemu_rv32"
#define FX_BOARD_FLASH_BYTES    (512u * 1024u)
#define FX_BOARD_RAM_BYTES      (128u * 1024u)
#define FX_BOARD_RX_BUFFER_SIZE 1024u

/* Firmware app (firmware/app/fx_app_config.h includes this file through
 * FX_APP_CONFIG_HEADER): 128 KiB of RAM. The model store lives in .noinit, which the
 * startup code leaves alone, so a committed model survives a software reset. */
#define FX_APP_PROFILE_LARGE    1
#define FX_APP_NOINIT           __attribute__((section(".noinit")))
#define FX_APP_KEEPS_MODEL      1

#endif
