/* fxlearn firmware application: the device side of the serial protocol (docs/protocol.md) on
 * top of the kernel and the board abstraction. A board's main() is
 *     fx_board_init(); fx_app_init(); for (;;) fx_app_step();
 * fx_app_step() handles at most one frame and calls fx_board_idle() when there is nothing
 * to do. */
#ifndef FX_APP_H
#define FX_APP_H

void fx_app_init(void);
void fx_app_step(void);

#endif
