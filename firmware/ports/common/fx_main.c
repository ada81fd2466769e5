/* Entry point of every bare-metal port: the board, then the application loop. */
#include "fx_board.h"
#include "fx_app.h"

int main(void)
{
    fx_board_init();
    fx_app_init();
    for (;;) {
        fx_app_step();
    }
}
