/* Single-producer (receive interrupt) / single-consumer (main loop) byte ring, lock-free.
 * Head is written only by the interrupt, tail only by the main loop; both are free-running
 * counters, so full/empty need no spare slot. Size must be a power of two. */
#ifndef FX_RING_H
#define FX_RING_H

#include <stdint.h>
#include <stddef.h>

#ifndef FX_BOARD_RX_BUFFER_SIZE
#define FX_BOARD_RX_BUFFER_SIZE 256u
#endif
typedef char fx_ring_size_is_power_of_two[
    (FX_BOARD_RX_BUFFER_SIZE & (FX_BOARD_RX_BUFFER_SIZE - 1u)) == 0u ? 1 : -1];

typedef struct {
    volatile uint32_t head;     /* bytes ever pushed (interrupt) */
    volatile uint32_t tail;     /* bytes ever popped (main loop) */
    volatile uint32_t dropped;  /* bytes lost because the ring was full */
    uint8_t data[FX_BOARD_RX_BUFFER_SIZE];
} fx_ring;

/* Interrupt side. */
static inline void fx_ring_push(fx_ring *r, uint8_t byte)
{
    uint32_t head = r->head;
    if (head - r->tail >= FX_BOARD_RX_BUFFER_SIZE) {
        r->dropped++;
        return;
    }
    r->data[head & (FX_BOARD_RX_BUFFER_SIZE - 1u)] = byte;
    __asm volatile ("" ::: "memory");  /* the byte is stored before head publishes it */
    r->head = head + 1u;
}

static inline int fx_ring_full(const fx_ring *r)
{
    return r->head - r->tail >= FX_BOARD_RX_BUFFER_SIZE;
}

static inline int fx_ring_empty(const fx_ring *r)
{
    return r->head == r->tail;
}

/* Main-loop side: copy up to cap bytes out, return how many. */
static inline size_t fx_ring_pop(fx_ring *r, uint8_t *buf, size_t cap)
{
    uint32_t tail = r->tail;
    uint32_t avail = r->head - tail;
    size_t n = avail < cap ? (size_t)avail : cap;
    for (size_t i = 0; i < n; i++) {
        buf[i] = r->data[(tail + (uint32_t)i) & (FX_BOARD_RX_BUFFER_SIZE - 1u)];
    }
    __asm volatile ("" ::: "memory");  /* bytes are read before the slots are released */
    r->tail = tail + (uint32_t)n;
    return n;
}

#endif
