/* Board layer for QEMU's riscv32 virt machine (evidence for the ESP32-C3's instruction set):
 * NS16550 UART with receive interrupt through the PLIC into a ring, a 1 ms machine-timer tick,
 * wfi idle, mcycle counter, SiFive test device for reset, trap handler reporting faults. */
#include "fx_board_config.h"
#include "fx_board.h"
#include "fx_port.h"
#include "fx_ring.h"

#define REG8(addr)  (*(volatile uint8_t *)(uintptr_t)(addr))
#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* NS16550 at 0x10000000, one byte per register; PLIC source 10. */
#define UART_BASE   0x10000000u
#define UART_RBR    REG8(UART_BASE + 0u)
#define UART_THR    REG8(UART_BASE + 0u)
#define UART_DLL    REG8(UART_BASE + 0u)
#define UART_IER    REG8(UART_BASE + 1u)
#define UART_DLM    REG8(UART_BASE + 1u)
#define UART_FCR    REG8(UART_BASE + 2u)
#define UART_LCR    REG8(UART_BASE + 3u)
#define UART_MCR    REG8(UART_BASE + 4u)
#define UART_LSR    REG8(UART_BASE + 5u)
#define UART_LSR_DR   0x01u
#define UART_LSR_THRE 0x20u
#define UART_IRQ    10u
#define UART_CLOCK_HZ 3686400u

/* PLIC, hart 0 machine-mode context 0. */
#define PLIC_PRIORITY(irq) REG32(0x0C000000u + 4u * (irq))
#define PLIC_ENABLE0       REG32(0x0C002000u)
#define PLIC_THRESHOLD     REG32(0x0C200000u)
#define PLIC_CLAIM         REG32(0x0C200004u)

/* CLINT machine timer, 10 MHz. */
#define MTIMECMP_LO REG32(0x02004000u)
#define MTIMECMP_HI REG32(0x02004004u)
#define MTIME_LO    REG32(0x0200BFF8u)
#define MTIME_HI    REG32(0x0200BFFCu)
#define MTIME_PER_MS 10000u

/* SiFive test finisher: 0x7777 resets the machine. */
#define TEST_FINISHER REG32(0x00100000u)
#define FINISHER_RESET 0x7777u

#define MSTATUS_MIE (1u << 3)
#define MIE_MTIE    (1u << 7)
#define MIE_MEIE    (1u << 11)

static fx_ring rx_ring;
static volatile uint32_t ms_ticks;
static uint64_t next_tick;

extern uint32_t _ebss, _estack;
int main(void);
void fx_rv32_start(void);

static inline void mstatus_set(uint32_t bits) { __asm volatile ("csrs mstatus, %0" :: "r"(bits) : "memory"); }
static inline void mstatus_clear(uint32_t bits) { __asm volatile ("csrc mstatus, %0" :: "r"(bits) : "memory"); }

static void set_mtimecmp(uint64_t t)
{
    /* High word first to all ones, so no intermediate value is in the past. */
    MTIMECMP_HI = 0xFFFFFFFFu;
    MTIMECMP_LO = (uint32_t)t;
    MTIMECMP_HI = (uint32_t)(t >> 32);
}

static uint64_t mtime(void)
{
    uint32_t hi, lo;
    do {
        hi = MTIME_HI;
        lo = MTIME_LO;
    } while (hi != MTIME_HI);
    return ((uint64_t)hi << 32) | lo;
}

static void uart_putc(uint8_t byte)
{
    while (!(UART_LSR & UART_LSR_THRE)) {
    }
    UART_THR = byte;
}

static void halt(void)
{
    __asm volatile ("csrw mie, zero" ::: "memory");
    for (;;) {
        __asm volatile ("wfi");
    }
}

__attribute__((interrupt("machine"), aligned(4))) void fx_rv32_trap(void)
{
    uint32_t cause, epc, tval;
    __asm volatile ("csrr %0, mcause" : "=r"(cause));
    if (cause & 0x80000000u) {
        uint32_t code = cause & 0x7FFFFFFFu;
        if (code == 7u) {                                   /* machine timer */
            next_tick += MTIME_PER_MS;
            set_mtimecmp(next_tick);
            ms_ticks++;
        } else if (code == 11u) {                           /* machine external (PLIC) */
            uint32_t irq = PLIC_CLAIM;
            if (irq == UART_IRQ) {
                /* With the ring full, stop listening until the main loop has read: the UART
                 * FIFO and then the emulator hold further input back. */
                while (UART_LSR & UART_LSR_DR) {
                    if (fx_ring_full(&rx_ring)) {
                        UART_IER = 0u;
                        break;
                    }
                    fx_ring_push(&rx_ring, UART_RBR);
                }
            }
            PLIC_CLAIM = irq;
        }
        return;
    }
    __asm volatile ("csrr %0, mepc" : "=r"(epc));
    __asm volatile ("csrr %0, mtval" : "=r"(tval));
    fx_port_fault_puts("\r\nFXFAULT riscv");
    fx_port_fault_hex("mcause", cause);
    fx_port_fault_hex("mepc", epc);
    fx_port_fault_hex("mtval", tval);
    fx_port_fault_puts("\r\n");
    halt();
}

void fx_rv32_start(void)
{
    __asm volatile ("csrw mtvec, %0" :: "r"((uint32_t)(uintptr_t)fx_rv32_trap));
    uint32_t *sp;
    __asm volatile ("mv %0, sp" : "=r"(sp));
    fx_port_paint_stack(&_ebss, sp);
    (void)main();
    halt();
}

/* ---- fx_board.h ------------------------------------------------------------------------ */

void fx_board_init(void)
{
    uint32_t divisor = UART_CLOCK_HZ / (16u * 115200u);
    UART_IER = 0u;
    UART_LCR = 0x80u;                                      /* DLAB: divisor latch */
    UART_DLL = (uint8_t)divisor;
    UART_DLM = (uint8_t)(divisor >> 8);
    UART_LCR = 0x03u;                                      /* 8N1 */
    UART_FCR = 0x07u;                                      /* FIFO on, cleared, 1-byte trigger */
    UART_MCR = 0x0Bu;                                      /* DTR, RTS, OUT2 (interrupt line) */
    UART_IER = 0x01u;                                      /* received-data interrupt */

    PLIC_PRIORITY(UART_IRQ) = 1u;
    PLIC_ENABLE0 = 1u << UART_IRQ;
    PLIC_THRESHOLD = 0u;

    next_tick = mtime() + MTIME_PER_MS;
    set_mtimecmp(next_tick);
    __asm volatile ("csrs mie, %0" :: "r"(MIE_MTIE | MIE_MEIE));
    mstatus_set(MSTATUS_MIE);
}

void fx_board_write(const uint8_t *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uart_putc(data[i]);
    }
}

size_t fx_board_read(uint8_t *buf, size_t cap)
{
    size_t n = fx_ring_pop(&rx_ring, buf, cap);
    if (UART_IER == 0u) {
        UART_IER = 0x01u;                                  /* room again: resume receiving */
    }
    return n;
}

void fx_board_idle(void)
{
    /* wfi wakes on any pending enabled interrupt even with mstatus.MIE clear, so checking
     * with interrupts masked cannot miss a byte; the 1 ms tick bounds the sleep. */
    mstatus_clear(MSTATUS_MIE);
    if (fx_ring_empty(&rx_ring)) {
        __asm volatile ("wfi");
    }
    mstatus_set(MSTATUS_MIE);
}

/* mcycle: with QEMU's -icount shift=0 it reads virtual nanoseconds, one per instruction. */
uint32_t fx_board_counter(void)
{
    uint32_t v;
    __asm volatile ("csrr %0, mcycle" : "=r"(v));
    return v;
}

fx_counter_kind fx_board_counter_kind(void)
{
    return FX_COUNTER_INSTRUCTIONS;
}

uint32_t fx_board_millis(void)
{
    return ms_ticks;
}

const char *fx_board_name(void)
{
    return FX_BOARD_NAME;
}

void fx_board_reset(void)
{
    TEST_FINISHER = FINISHER_RESET;
    for (;;) {
    }
}

/* ---- fx_port.h --------------------------------------------------------------------------- */

uint32_t fx_port_rx_dropped(void)
{
    return rx_ring.dropped;
}

size_t fx_port_stack_peak(void)
{
    size_t size = (size_t)((uintptr_t)&_estack - (uintptr_t)&_ebss);
    return size - fx_port_unused_stack(&_ebss, &_estack);
}

void fx_port_fault_puts(const char *s)
{
    while (*s) {
        uart_putc((uint8_t)*s++);
    }
}
