/* Instruction-count benchmarks (host/fxlearn/mcu_run.py): the image's entry symbol, also the
 * cost of an empty call (the harness counts from a function's first instruction to its return). */
#include "fx_bench.h"

int32_t fx_bench_nop(void)
{
    return 0;
}
