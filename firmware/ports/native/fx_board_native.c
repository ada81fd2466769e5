/* fx_board.h for the virtual board: a pseudo-terminal, CLOCK_MONOTONIC microseconds, and a
 * warm reset by longjmp. POSIX (Linux: the board also dies with its parent). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "fx_board.h"
#include "fx_native.h"

jmp_buf fx_native_reset_point;

static int master_fd = -1;
static int slave_fd = -1; /* kept open: the master never sees a hang-up between clients */
static pid_t parent_pid;
static int watch_parent = 1;
static const char *board_name = "native";
static volatile sig_atomic_t reset_requested;
static uint64_t start_ns;

/* UART pacing (0: unpaced): nanoseconds per byte, the time the line is busy until, and the
 * time up to which received bytes have been "clocked in". Received bytes accumulate while the
 * app is busy up to an interrupt-driven ring's worth (the smallest board's); transmission goes
 * out in FIFO-sized pieces. */
#define RX_RING_BYTES 256u
#define TX_FIFO_BYTES 16u
static uint64_t ns_per_byte;
static uint64_t tx_busy_until;
static uint64_t rx_clocked;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void sleep_until(uint64_t t) {
    uint64_t now = now_ns();
    if (t > now) {
        struct timespec d;
        d.tv_sec = (time_t)((t - now) / 1000000000u);
        d.tv_nsec = (long)((t - now) % 1000000000u);
        nanosleep(&d, NULL);
    }
}

static void on_terminate(int sig) {
    (void)sig;
    _exit(0);
}

static void on_reset_button(int sig) {
    (void)sig;
    reset_requested = 1;
}

static void fail(const char *what) {
    perror(what);
    exit(2);
}

static void check_events(void) {
    if (watch_parent && getppid() != parent_pid) {
        _exit(0);
    }
    if (reset_requested) {
        reset_requested = 0;
        fx_board_reset();
    }
}

void fx_native_setup(int argc, char **argv) {
    unsigned long baud = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--baud") == 0 && i + 1 < argc) {
            baud = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            board_name = argv[++i];
        } else if (strcmp(argv[i], "--no-parent-watch") == 0) {
            watch_parent = 0;
        } else {
            fprintf(stderr, "usage: %s [--baud N] [--name NAME] [--no-parent-watch]\n", argv[0]);
            exit(2);
        }
    }
    ns_per_byte = baud ? 10000000000u / baud : 0;

    parent_pid = getppid();
#ifdef __linux__
    if (watch_parent) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
    }
#endif
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_terminate;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_reset_button;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    master_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (master_fd < 0 || grantpt(master_fd) != 0 || unlockpt(master_fd) != 0) {
        fail("posix_openpt");
    }
    const char *path = ptsname(master_fd);
    if (path == NULL) {
        fail("ptsname");
    }
    slave_fd = open(path, O_RDWR | O_NOCTTY);
    if (slave_fd < 0) {
        fail("open pty slave");
    }
    /* Raw mode before any client opens it: no echo, no line editing, 8 bits. */
    struct termios t;
    if (tcgetattr(slave_fd, &t) != 0) {
        fail("tcgetattr");
    }
    t.c_iflag = 0;
    t.c_oflag = 0;
    t.c_lflag = 0;
    t.c_cflag = (tcflag_t)((t.c_cflag & ~(tcflag_t)(CSIZE | PARENB)) | CS8 | CREAD | CLOCAL);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(slave_fd, TCSANOW, &t) != 0) {
        fail("tcsetattr");
    }
    int flags = fcntl(master_fd, F_GETFL);
    fcntl(master_fd, F_SETFL, flags | O_NONBLOCK);
    printf("%s\n", path);
    fflush(stdout);
    start_ns = now_ns();
}

void fx_board_init(void) {
    reset_requested = 0;
    tx_busy_until = rx_clocked = now_ns();
}

/* A UART with no listener drops bytes rather than blocking forever. */
static void write_all(const uint8_t *data, size_t n) {
    uint64_t give_up = now_ns() + 1000000000u;
    while (n > 0) {
        ssize_t w = write(master_fd, data, n);
        if (w > 0) {
            data += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            return;
        }
        if (now_ns() > give_up) {
            return;
        }
        struct pollfd p = {master_fd, POLLOUT, 0};
        poll(&p, 1, 10);
    }
}

void fx_board_write(const uint8_t *data, size_t n) {
    if (ns_per_byte == 0) {
        write_all(data, n);
        return;
    }
    /* Paced: a piece at a time, each when the line is free, returning when the last piece
     * has been handed over (a blocking UART driver). */
    while (n > 0) {
        size_t piece = n < TX_FIFO_BYTES ? n : TX_FIFO_BYTES;
        uint64_t now = now_ns();
        if (tx_busy_until < now) {
            tx_busy_until = now;
        }
        sleep_until(tx_busy_until);
        write_all(data, piece);
        tx_busy_until += piece * ns_per_byte;
        data += piece;
        n -= piece;
    }
}

static int input_pending(int timeout_ms) {
    struct pollfd p = {master_fd, POLLIN, 0};
    return poll(&p, 1, timeout_ms) > 0;
}

size_t fx_board_read(uint8_t *buf, size_t cap) {
    check_events();
    if (ns_per_byte) {
        uint64_t now = now_ns();
        if (!input_pending(0)) {
            rx_clocked = now; /* an idle line builds up no backlog */
            return 0;
        }
        if (now - rx_clocked > RX_RING_BYTES * ns_per_byte) {
            rx_clocked = now - RX_RING_BYTES * ns_per_byte;
        }
        size_t allowed = (size_t)((now - rx_clocked) / ns_per_byte);
        if (cap > allowed) {
            cap = allowed;
        }
        if (cap == 0) {
            return 0;
        }
    }
    ssize_t r = read(master_fd, buf, cap);
    if (r <= 0) {
        return 0;
    }
    rx_clocked += (uint64_t)r * ns_per_byte;
    return (size_t)r;
}

void fx_board_idle(void) {
    check_events();
    if (ns_per_byte && input_pending(0)) {
        /* Bytes are waiting but the line has not clocked the next one in yet. */
        sleep_until(rx_clocked + ns_per_byte);
        return;
    }
    if (input_pending(5) && ns_per_byte) {
        rx_clocked = now_ns(); /* the first byte starts arriving now */
    }
}

uint32_t fx_board_counter(void) {
    return (uint32_t)((now_ns() - start_ns) / 1000u);
}

fx_counter_kind fx_board_counter_kind(void) {
    return FX_COUNTER_MICROSECONDS;
}

uint32_t fx_board_millis(void) {
    return (uint32_t)((now_ns() - start_ns) / 1000000u);
}

const char *fx_board_name(void) {
    return board_name;
}

void fx_board_reset(void) {
    /* Bytes that arrived before the reset are lost, as in a MCU's receive buffer. */
    uint8_t sink[256];
    while (read(master_fd, sink, sizeof sink) > 0) {
    }
    longjmp(fx_native_reset_point, 1);
}
