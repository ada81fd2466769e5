/* The firmware app on the memory board (fx_board_mem.c): start it with an empty or preloaded
 * model store, feed it bytes, collect what it sends. Shared by the dispatcher fuzzer and, as a
 * shared library, by tests/test_malformed.py. */
#ifndef FX_MEM_APP_H
#define FX_MEM_APP_H

#include <stddef.h>
#include <stdint.h>

/* Erases the model store, installs blob[0..n) as the committed model when n > 0 (the store's
 * boot check still validates it), boots the app (its BOOT event is in the sink). Returns 1 if
 * the app came up with a model, 0 without; -1 if the blob does not fit a slot. */
int fx_mem_app_start(const uint8_t *blob, size_t n);

/* Queues data[0..n) and steps the app until it has consumed every byte and handled every
 * frame (at most max_steps steps; a reset reboots the app and goes on). Returns the steps
 * taken, or -1 if the bytes did not fit the queue. */
long fx_mem_app_feed(const uint8_t *data, size_t n, long max_steps);

/* Steps the app `steps` times with nothing received (time passes: timeouts fire). */
void fx_mem_app_idle(long steps);

/* Sent bytes since the last call (at most cap). */
size_t fx_mem_app_take(uint8_t *out, size_t cap);

/* Board resets since start. */
uint32_t fx_mem_app_resets(void);

/* The device's receive/transmit payload limits and model slot size (this build's profile). */
size_t fx_mem_app_rx_max(void);
size_t fx_mem_app_tx_max(void);
size_t fx_mem_app_model_max(void);

#endif
