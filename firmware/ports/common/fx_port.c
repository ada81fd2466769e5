/* Shared helpers of the bare-metal ports: fault-report formatting and stack painting. */
#include "fx_port.h"

void fx_port_fault_hex(const char *label, uint32_t value)
{
    static const char digits[] = "0123456789abcdef";
    char text[10];
    text[0] = '=';
    for (int i = 0; i < 8; i++) {
        text[1 + i] = digits[(value >> (28 - 4 * i)) & 0xFu];
    }
    text[9] = '\0';
    fx_port_fault_puts(" ");
    fx_port_fault_puts(label);
    fx_port_fault_puts(text);
}

void fx_port_paint_stack(uint32_t *bottom, uint32_t *sp)
{
    /* Leave a small margin below the live frame of the caller. */
    for (uint32_t *p = bottom; p + 16 < sp; p++) {
        *p = FX_PORT_STACK_PAINT;
    }
}

size_t fx_port_unused_stack(const uint32_t *bottom, const uint32_t *top)
{
    const uint32_t *p = bottom;
    while (p < top && *p == FX_PORT_STACK_PAINT) {
        p++;
    }
    return (size_t)(p - bottom) * sizeof(uint32_t);
}
