/* Virtual board entry point:
 *     fxboard [--baud N] [--name NAME] [--no-parent-watch]
 * opens a pseudo-terminal, prints its path (the port to connect to) as the first line on
 * stdout, and runs the firmware app on it until SIGTERM/SIGINT or until its parent process
 * exits. --baud N paces both directions like a UART at N baud (10 bits per byte), so link
 * measurements mean what they mean on a board; the default is unpaced. SIGUSR1 presses the
 * reset button. */
#include "fx_app.h"
#include "fx_board.h"
#include "fx_native.h"

int main(int argc, char **argv) {
    fx_native_setup(argc, argv);
    setjmp(fx_native_reset_point);
    fx_board_init();
    fx_app_init();
    for (;;) {
        fx_app_step();
    }
}
