/* See fx_mem_app.h. */
#include "fx_mem_app.h"

#include <string.h>

#include "fx_app.h"
#include "fx_app_internal.h"
#include "fx_board.h"
#include "fx_board_mem.h"
#include "fx_crc32.h"

static void boot(void) {
    fx_board_init();
    fx_app_init();
}

int fx_mem_app_start(const uint8_t *blob, size_t n) {
    if (n > FX_APP_MODEL_MAX) {
        return -1;
    }
    fx_mem_board_clear();
    memset(&fx_app_store_g, 0, sizeof fx_app_store_g);
    if (n > 0) {
        fx_app_store_g.magic = FX_APP_STORE_MAGIC;
        memcpy(fx_app_store_g.slot[0], blob, n);
        fx_app_store_g.len[0] = (uint32_t)n;
        fx_app_store_g.crc[0] = fx_crc32(0, blob, n);
        fx_app_store_g.active = 0;
    }
    if (setjmp(fx_mem_reset_point) != 0) {
        return -1; /* fx_app_init never resets */
    }
    boot();
    return fx_app_model_present();
}

/* Steps until the queue is empty and the last byte's frame was handled; a RESET command
 * longjmps back here and the app boots again. */
static long run(long max_steps, int until_drained) {
    volatile long steps = 0;
    if (setjmp(fx_mem_reset_point) != 0) {
        boot();
    }
    while (steps < max_steps) {
        if (until_drained && fx_mem_rx_left() == 0 && fx_app_g.read_pos == fx_app_g.read_len &&
            fx_app_g.raw_left == 0) {
            break;
        }
        steps++;
        fx_app_step();
    }
    return steps;
}

long fx_mem_app_feed(const uint8_t *data, size_t n, long max_steps) {
    if (!fx_mem_rx_push(data, n)) {
        return -1;
    }
    return run(max_steps, 1);
}

void fx_mem_app_idle(long steps) {
    run(steps, 0);
}

size_t fx_mem_app_take(uint8_t *out, size_t cap) {
    return fx_mem_tx_take(out, cap);
}

uint32_t fx_mem_app_resets(void) {
    return fx_mem_resets();
}

size_t fx_mem_app_rx_max(void) {
    return FX_APP_RX_FRAME_MAX;
}

size_t fx_mem_app_tx_max(void) {
    return FX_APP_TX_FRAME_MAX;
}

size_t fx_mem_app_model_max(void) {
    return FX_APP_MODEL_MAX;
}
