/* Cross-check of the instruction counts (tests/test_mcu.py): the same image runs as firmware
 * in QEMU (netduinoplus2 / netduino2: STM32F405 / F205) with -icount shift=0, where TIM2 at
 * prescaler 0 advances once per instruction (as firmware/ports/stm32 uses it), and function by
 * function in the unicorn harness. The firmware measures each function of fxq_functions between
 * two reads of TIM2, all through the same loop (so the measuring overhead is the same for each),
 * and prints the counts through semihosting: count - count of the empty function must equal the
 * harness's difference. */
#include "fx_bench.h"
#include "fx_dense.h"

#define REG32(a) (*(volatile uint32_t *)(a))
#define RCC_APB1ENR REG32(0x40023840u)
#define TIM2_CR1 REG32(0x40000000u)
#define TIM2_EGR REG32(0x40000014u)
#define TIM2_CNT REG32(0x40000024u)
#define TIM2_PSC REG32(0x40000028u)
#define TIM2_ARR REG32(0x4000002Cu)

#define IN 64u
#define OUT 32u

static int16_t fxq_w[OUT * IN], fxq_x[IN], fxq_y[OUT];
static uint8_t fxq_codes[OUT * IN / 2];
static int32_t fxq_bias[OUT];
static const int32_t fxq_mult[1] = { INT32_C(1) << 30 }, fxq_shift[1] = { -12 };
static const fx_dense_layer fxq_int16 = { FX_FMT_INT16, 16, IN, OUT, fxq_w, fxq_bias, fxq_mult, fxq_shift, 1,
                                          -32768, 32767 };
static const fx_dense_layer fxq_apot4 = { FX_FMT_APOT, 4, IN, OUT, fxq_codes, fxq_bias, fxq_mult, fxq_shift, 1,
                                          0, 32767 };

/* Deterministic contents (run before measuring, in QEMU and in the harness alike). */
void fxq_init(void)
{
    uint32_t i, s = 12345u;
    for (i = 0; i < OUT * IN; i++) {
        s = s * 1103515245u + 12345u;
        fxq_w[i] = (int16_t)((int32_t)((s >> 16) & 0x7FFFu) - 16384);
        if (i < OUT * IN / 2) fxq_codes[i] = (uint8_t)(s >> 24);
    }
    for (i = 0; i < IN; i++) fxq_x[i] = (int16_t)((i * 97u) % 4097u);
    for (i = 0; i < OUT; i++) fxq_bias[i] = (int32_t)(i * 1000u) - 16000;
}

int32_t fxq_dense_int16(void)
{
    return fx_dense_s16(&fxq_int16, fxq_x, fxq_y);
}

int32_t fxq_dense_apot4(void)
{
    return fx_dense_s16(&fxq_apot4, fxq_x, fxq_y);
}

/* The measured functions, in output order (tests/test_mcu.py names them). */
static int32_t (*const fxq_functions[3])(void) = { fx_bench_nop, fxq_dense_int16, fxq_dense_apot4 };

static void semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

static char *put_uint(char *p, uint32_t v)
{
    char digits[10];
    uint32_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    while (n != 0u) *p++ = digits[--n];
    return p;
}

void fxq_reset(void)
{
    char line[48], *p = line;
    uint32_t k, t0, t1;
    RCC_APB1ENR |= 1u;
    TIM2_PSC = 0u;
    TIM2_ARR = 0xFFFFFFFFu;
    TIM2_EGR = 1u;
    TIM2_CR1 = 1u;
    fxq_init();
    *p++ = 'F'; *p++ = 'X'; *p++ = 'Q';
    for (k = 0; k < 3u; k++) {
        t0 = TIM2_CNT;
        (void)fxq_functions[k]();
        t1 = TIM2_CNT;
        *p++ = ' ';
        p = put_uint(p, t1 - t0);
    }
    *p++ = '\n';
    *p = '\0';
    semihost(0x04u, line);                          /* SYS_WRITE0 */
    semihost(0x18u, (const void *)0x20026u);        /* SYS_EXIT, ADP_Stopped_ApplicationExit */
    for (;;) __asm__ volatile("wfi");
}

/* Initial stack pointer (top of the 128 KiB of SRAM both machines have) and reset vector. */
__attribute__((section(".isr_vector"), used))
static void (*const fxq_vectors[2])(void) = { (void (*)(void))0x20020000u, fxq_reset };
