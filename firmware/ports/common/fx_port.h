/* Port-level extras shared by the bare-metal ports (stm32, rv32). The firmware app does not
 * use these: they serve the bring-up app (echo_app.c) and the board tests. */
#ifndef FX_PORT_H
#define FX_PORT_H

#include <stdint.h>
#include <stddef.h>

/* Bytes the receive ring had to drop since boot (host sent faster than the app read). */
uint32_t fx_port_rx_dropped(void);

/* Deepest stack use since boot in bytes: the reset code paints the stack, this finds the
 * lowest overwritten word. */
size_t fx_port_stack_peak(void);

/* Blocking, interrupt-free text output for the fault handlers. A fault report is one line:
 * "\r\nFXFAULT <what> name=hex8 name=hex8 ...\r\n", then the board halts. */
void fx_port_fault_puts(const char *s);
void fx_port_fault_hex(const char *label, uint32_t value);

/* Stack painting, called by the reset code before main. */
#define FX_PORT_STACK_PAINT 0xA5A5A5A5u
void fx_port_paint_stack(uint32_t *bottom, uint32_t *sp);
size_t fx_port_unused_stack(const uint32_t *bottom, const uint32_t *top);

#endif
