/* Bring-up application for the bare-metal ports (stands in for firmware/app): prints a banner,
 * echoes every byte, and answers a few escape commands that exercise the board layer.
 *   ESC ESC  echo one ESC (0x1b)         ESC c  "C <kind> <counter> <millis>"
 *   ESC l    "L <d1> <d2>": counter deltas of a 2-instruction loop run 1000 and 3000 times
 *   ESC i    "I <ms> <calls>": fx_board_idle for 50 ms without input
 *   ESC s    "S <rx dropped> <stack peak bytes>"
 *   ESC p    pause reading for 300 ms (input piles up: receive flow control), then "P"
 *   ESC f    execute an undefined instruction (the fault handler reports and halts)
 *   ESC r    fx_board_reset()
 * Replies are ASCII lines ending in "\r\n", numbers in decimal. */
#include "fx_board.h"
#include "fx_app.h"
#include "fx_port.h"

#define ESC 0x1bu

static int escaped;

static void put_text(const char *s)
{
    size_t n = 0;
    while (s[n]) {
        n++;
    }
    fx_board_write((const uint8_t *)s, n);
}

static void put_number(uint32_t v)
{
    char text[12];
    size_t i = sizeof text;
    do {
        text[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    fx_board_write((const uint8_t *)" ", 1);
    fx_board_write((const uint8_t *)&text[i], sizeof text - i);
}

/* Exactly two instructions per iteration on both instruction sets. */
static void spin(uint32_t n)
{
#if defined(__arm__)
    __asm volatile ("1: subs %0, %0, #1\n bne 1b" : "+r"(n) :: "cc");
#elif defined(__riscv)
    __asm volatile ("1: addi %0, %0, -1\n bnez %0, 1b" : "+r"(n));
#else
#error "spin(): unknown instruction set"
#endif
}

/* Not inlined, so both measurements run the very same instructions around the loop. */
__attribute__((noinline)) static uint32_t spin_cost(uint32_t n)
{
    uint32_t start = fx_board_counter();
    spin(n);
    return fx_board_counter() - start;
}

static void undefined_instruction(void)
{
#if defined(__arm__)
    __asm volatile ("udf #0");
#else
    __asm volatile ("unimp");
#endif
}

static void command(uint8_t c)
{
    switch (c) {
    case 'c':
        put_text("C");
        put_number((uint32_t)fx_board_counter_kind());
        put_number(fx_board_counter());
        put_number(fx_board_millis());
        break;
    case 'l': {
        uint32_t d1 = spin_cost(1000u);
        uint32_t d2 = spin_cost(3000u);
        put_text("L");
        put_number(d1);
        put_number(d2);
        break;
    }
    case 'i': {
        uint32_t start = fx_board_millis(), calls = 0;
        while (fx_board_millis() - start < 50u) {
            fx_board_idle();
            calls++;
        }
        put_text("I");
        put_number(fx_board_millis() - start);
        put_number(calls);
        break;
    }
    case 'p': {
        uint32_t start = fx_board_millis();
        while (fx_board_millis() - start < 300u) {
            fx_board_idle();
        }
        put_text("P");
        break;
    }
    case 's':
        put_text("S");
        put_number(fx_port_rx_dropped());
        put_number((uint32_t)fx_port_stack_peak());
        break;
    case 'f':
        undefined_instruction();
        return;
    case 'r':
        fx_board_reset();
        return;
    default:
        put_text("?");
        break;
    }
    put_text("\r\n");
}

void fx_app_init(void)
{
    put_text("fxlearn echo ");
    put_text(fx_board_name());
    put_text(" counter");
    put_number((uint32_t)fx_board_counter_kind());
    put_text("\r\n");
}

void fx_app_step(void)
{
    uint8_t buf[64];
    size_t n = fx_board_read(buf, sizeof buf);
    if (n == 0) {
        fx_board_idle();
        return;
    }
    size_t run = 0;  /* start of the pending plain bytes, echoed in one write */
    for (size_t i = 0; i < n; i++) {
        if (escaped) {
            escaped = 0;
            if (buf[i] == ESC) {
                continue;  /* a doubled ESC is part of the next plain run */
            }
            command(buf[i]);
            run = i + 1;
        } else if (buf[i] == ESC) {
            fx_board_write(&buf[run], i - run);
            escaped = 1;
            run = i + 1;
        }
    }
    fx_board_write(&buf[run], n - run);
}
