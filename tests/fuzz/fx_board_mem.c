/* fx_board.h over memory buffers: see fx_board_mem.h. */
#include "fx_board_mem.h"

#include <string.h>

#include "fx_board.h"

#define MEM_RX_CAP 65536u
#define MEM_TX_CAP 65536u

jmp_buf fx_mem_reset_point;

static uint8_t rx_buf[MEM_RX_CAP];
static size_t rx_head, rx_tail;
static uint8_t tx_buf[MEM_TX_CAP];
static size_t tx_len;
static uint32_t now_ms, idle_ms = 5u, resets;

void fx_mem_board_clear(void) {
    rx_head = rx_tail = tx_len = 0;
    now_ms = 0;
    idle_ms = 5u;
    resets = 0;
}

int fx_mem_rx_push(const uint8_t *data, size_t n) {
    if (rx_head == rx_tail) {
        rx_head = rx_tail = 0;
    }
    if (n > MEM_RX_CAP - rx_tail) {
        return 0;
    }
    memcpy(rx_buf + rx_tail, data, n);
    rx_tail += n;
    return 1;
}

size_t fx_mem_rx_left(void) {
    return rx_tail - rx_head;
}

size_t fx_mem_tx_take(uint8_t *out, size_t cap) {
    size_t n = tx_len < cap ? tx_len : cap;
    memcpy(out, tx_buf, n);
    tx_len = 0;
    return n;
}

void fx_mem_set_idle_ms(uint32_t ms) {
    idle_ms = ms;
}

uint32_t fx_mem_resets(void) {
    return resets;
}

void fx_board_init(void) {
}

/* A full sink drops bytes, like a UART nobody listens to. */
void fx_board_write(const uint8_t *data, size_t n) {
    size_t room = MEM_TX_CAP - tx_len;
    if (n > room) {
        n = room;
    }
    memcpy(tx_buf + tx_len, data, n);
    tx_len += n;
}

size_t fx_board_read(uint8_t *buf, size_t cap) {
    size_t n = rx_tail - rx_head;
    if (n > cap) {
        n = cap;
    }
    memcpy(buf, rx_buf + rx_head, n);
    rx_head += n;
    return n;
}

void fx_board_idle(void) {
    now_ms += idle_ms;
}

uint32_t fx_board_counter(void) {
    return now_ms;
}

fx_counter_kind fx_board_counter_kind(void) {
    return FX_COUNTER_NONE;
}

uint32_t fx_board_millis(void) {
    return now_ms;
}

const char *fx_board_name(void) {
    return "memboard";
}

void fx_board_reset(void) {
    resets++;
    rx_head = rx_tail; /* bytes in the receive buffer are lost over a reset */
    longjmp(fx_mem_reset_point, 1);
}
