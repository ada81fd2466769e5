/* fxlearn board abstraction: everything the firmware application knows about a board.
 * Each port (firmware/ports/<board>/) implements these; the app builds unchanged for all.
 * No math here, and no protocol: bytes in, bytes out, a counter, and a name. */
#ifndef FX_BOARD_H
#define FX_BOARD_H

#include <stdint.h>
#include <stddef.h>

/* What fx_board_counter() counts, reported in the handshake. */
typedef enum {
    FX_COUNTER_NONE = 0,          /* no counter: always 0 */
    FX_COUNTER_INSTRUCTIONS = 1,  /* retired instructions (QEMU -icount timer) */
    FX_COUNTER_CYCLES = 2,        /* CPU cycles (DWT CYCCNT, mcycle) */
    FX_COUNTER_MICROSECONDS = 3   /* wall-clock microseconds (virtual board) */
} fx_counter_kind;

/* Clocks, UART, counter. Called once at start. */
void fx_board_init(void);

/* Queue n bytes for transmission; returns when all are accepted by the driver. */
void fx_board_write(const uint8_t *data, size_t n);

/* Copy up to cap received bytes into buf without blocking; returns how many (0: none yet). */
size_t fx_board_read(uint8_t *buf, size_t cap);

/* Sleep until something may have happened (a byte arrived, a tick): wfi on a MCU, a short
 * poll on the virtual board. Must return within ~10 ms so the app can run timeouts. */
void fx_board_idle(void);

/* Free-running 32-bit counter (wraps) and what it counts. */
uint32_t fx_board_counter(void);
fx_counter_kind fx_board_counter_kind(void);

/* Milliseconds since start (wraps), for protocol timeouts. */
uint32_t fx_board_millis(void);

/* Board name for the handshake, e.g. "native", "qemu_f405", "nucleo_f446re". */
const char *fx_board_name(void);

/* Restart the board (software reset); never returns. */
void fx_board_reset(void);

#endif
