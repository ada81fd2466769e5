/* esp32-c3-devkitm-1: ESP32-C3 (RISC-V rv32imc, 400 KiB SRAM), UART0 via the USB-serial bridge.
 * Arduino port (firmware/ports/esp32), not compiled in CI. */
#ifndef FX_BOARD_CONFIG_H
#define FX_BOARD_CONFIG_H

#define FX_BOARD_NAME           "esp32-c3-devkitm-1"
#define FX_BOARD_RX_BUFFER_SIZE 4096u

/* Firmware app (FX_APP_CONFIG_HEADER): plenty of RAM; the model is not kept over a reset. */
#define FX_APP_PROFILE_LARGE    1

#endif
