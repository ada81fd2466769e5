/* Virtual board: the firmware app as a host process on a pseudo-terminal. */
#ifndef FX_NATIVE_H
#define FX_NATIVE_H

#include <setjmp.h>

/* fx_board_reset() jumps here: main() then starts the board and the app again, with the
 * process's memory (and so the model store) intact, like a warm reset of a MCU. */
extern jmp_buf fx_native_reset_point;

/* Opens the pseudo-terminal and parses the command line (see fx_native_main.c). */
void fx_native_setup(int argc, char **argv);

#endif
