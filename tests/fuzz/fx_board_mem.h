/* A test port of fx_board.h over memory buffers (no pty, no clock): the fuzz harnesses and the
 * malformed-input tests drive the firmware app through it. Received bytes come from a queue the
 * test fills; transmitted bytes go to a sink the test inspects; time advances only when the
 * app idles; a reset longjmps back into the test. */
#ifndef FX_BOARD_MEM_H
#define FX_BOARD_MEM_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

/* fx_board_reset() jumps here (set it before stepping the app). */
extern jmp_buf fx_mem_reset_point;

/* Start state: empty queues, clock 0, no resets. */
void fx_mem_board_clear(void);
/* Queues n bytes for fx_board_read; returns 0 if they do not fit. */
int fx_mem_rx_push(const uint8_t *data, size_t n);
size_t fx_mem_rx_left(void);
/* Bytes the app wrote since fx_mem_tx_take() last ran; take returns and forgets them. */
size_t fx_mem_tx_take(uint8_t *out, size_t cap);
/* Milliseconds each fx_board_idle() call lets pass. */
void fx_mem_set_idle_ms(uint32_t ms);
uint32_t fx_mem_resets(void);

#endif
