/*
 * twin_sim: the twin_clock firmware in the loop, on libsimavr.
 *
 *   twin_sim [--edges FILE] [--fast] [--boot-ms MS] [--no-reset] [--trace-uart] firmware.elf
 *
 * Loads the ELF into a simulated ATmega328P at 16 MHz, bridges its USART0 to a new
 * pseudo-terminal and prints the terminal's path as the first line on stdout:
 *
 *   PTY /dev/pts/7
 *
 * Open that path like the board's serial port (pyserial, any baud rate: a pty has none).
 * The UART's byte time is simavr's, from the UBRR0 and U2X0 the firmware writes (1 Mbaud
 * for protocol version 2: 11 us a byte as simavr counts it, start and stop bits
 * included), in both directions; the pty is serviced every 50 us of simulated time.
 * Like an Uno, whose DTR line resets it, the board resets when a program opens the port: it is held
 * in reset for --boot-ms (default 100 ms, standing in for the bootloader; bytes sent
 * meanwhile are lost), then starts and prints its banner. While no program has the
 * port open the board runs on and what it sends is lost. --no-reset: no reset on open,
 * output kept in the pty until read.
 *
 * Every change of the clock pin (digital 9 = PB1) is reported as
 *
 *   EDGE <cycle> <0|1>
 *
 * on stdout, or in FILE with --edges (flushed as they come), and every reset as
 * "RESET <cycle>" (the pin then floats: reported as EDGE <cycle> 0 if it was high).
 * <cycle> counts 16 MHz cycles since the harness started (62.5 ns each; not reset). Edges made by Timer1's compare unit carry the
 * cycle the timer scheduled them for (simavr only notices them at the next instruction
 * boundary, up to 4 cycles later); others carry the cycle they were seen.
 * PINB1 reads the clock pin's level, as on the silicon (simavr 1.6 reads PORTB1 for an
 * output, 0 while Timer1 drives the pin high).
 *
 * By default simulated time is held to wall-clock time (the board's UART, watchdog and
 * bursts run at their real speed whenever simavr is fast enough); --fast runs freely.
 * Runs until SIGTERM/SIGINT/SIGHUP, then prints "END <cycle> <MHz simulated/wall>" on
 * stderr and exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_ioport.h"
#include "avr_timer.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_io.h"
#include "sim_irq.h"

#define MCU "atmega328p"
#define FREQ 16000000u
#define SERVICE_CYCLES 800u /* 50 us of simulated time between pty checks (5 bytes at 1 Mbaud) */
#define TCCR1A_ADDR 0x80
#define COM1A_MASK 0xC0
#define PINB_ADDR 0x23
#define DDRB_ADDR 0x24
#define CLOCK_BIT 0x02 /* PB1 */

static volatile sig_atomic_t stop_flag;
static avr_t* avr;
static avr_timer_t* timer1;
static FILE* edges;
static int edges_dirty;
static int master = -1;
static int trace_uart;
static int last_level = 0;
static int reset_on_open = 1;
static int client_open = 0; /* a program has the pty's slave side open */
static avr_io_read_t pinb_read_port; /* simavr's PINB read, which ours wraps */
static void* pinb_read_param;

/* host -> AVR */
#define IN_SIZE 4096u
static uint8_t in_buf[IN_SIZE];
static unsigned in_head, in_tail;
static int xon = 0; /* the UART says XON once its receiver is on */
static avr_irq_t* uart_in;

/* AVR -> host */
#define OUT_SIZE 8192u
static uint8_t out_buf[OUT_SIZE];
static size_t out_len;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void flush_out(void) {
    if (!client_open && reset_on_open) { /* nobody listens: lost, as on a real board */
        out_len = 0;
        return;
    }
    size_t done = 0;
    while (done < out_len) {
        ssize_t w = write(master, out_buf + done, out_len - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            break; /* EAGAIN: nobody reads; EIO: nobody has it open. Drop it. */
        }
        done += (size_t)w;
    }
    out_len = 0;
}

static void uart_out_hook(struct avr_irq_t* irq, uint32_t value, void* param) {
    (void)irq;
    (void)param;
    if (trace_uart) fprintf(stderr, "UART> %02x\n", value & 0xFF);
    if (out_len == OUT_SIZE) flush_out();
    out_buf[out_len++] = (uint8_t)value;
}

static void push_input(void) {
    while (xon && in_tail != in_head) {
        uint8_t b = in_buf[in_tail];
        in_tail = (in_tail + 1) % IN_SIZE;
        if (trace_uart) fprintf(stderr, "UART< %02x\n", b);
        avr_raise_irq(uart_in, b); /* may call xoff_hook when the UART's FIFO fills */
    }
}

static void xon_hook(struct avr_irq_t* irq, uint32_t value, void* param) {
    (void)irq;
    (void)value;
    (void)param;
    xon = 1;
    push_input();
}

static void xoff_hook(struct avr_irq_t* irq, uint32_t value, void* param) {
    (void)irq;
    (void)value;
    (void)param;
    xon = 0;
}

/* The clock pin changed (timer compare output or a PORTB write). */
static void pin_hook(struct avr_irq_t* irq, uint32_t value, void* param) {
    (void)irq;
    (void)param;
    int level = (int)(value & 1u);
    if (level == last_level) return;
    last_level = level;
    uint64_t when = avr->cycle;
    if (timer1 && timer1->tov_cycles && (avr->data[TCCR1A_ADDR] & COM1A_MASK)) {
        /* made by the compare unit: a rise at the overflow (tov_base), a fall at the
           compare match (tov_base + comp_cycles); simavr calls us up to one instruction
           later */
        uint64_t exact = level ? timer1->tov_base
                               : timer1->tov_base + timer1->comp[AVR_TIMER_COMPA].comp_cycles;
        if (exact <= when && when - exact <= 8) when = exact;
    }
    fprintf(edges, "EDGE %llu %d\n", (unsigned long long)when, level);
    edges_dirty = 1;
}

/* PINB as the silicon reads it: an output bit is the level on the pin. simavr 1.6
   returns PORTB1 for it, 0 while Timer1's compare unit drives the pin high, so the
   firmware (which reads PINB1 to count a pulse that SAFE cuts short) saw none. */
static uint8_t pinb_read(struct avr_t* a, avr_io_addr_t addr, void* param) {
    (void)param;
    uint8_t v = pinb_read_port(a, addr, pinb_read_param);
    if (a->data[DDRB_ADDR] & CLOCK_BIT) v = (uint8_t)((v & ~CLOCK_BIT) | (last_level ? CLOCK_BIT : 0));
    a->data[addr] = v;
    return v;
}

/* Sleep up to ns nanoseconds, or until the host writes to the pty. */
static void wait_input(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    if (client_open) {
        struct pollfd pfd = {master, POLLIN, 0};
        ppoll(&pfd, 1, &ts, NULL);
    } else { /* no client: the master reports POLLHUP at once, so just sleep */
        nanosleep(&ts, NULL);
    }
}

/* Back to the reset vector, as the Uno's DTR line does. */
static void board_reset(void) {
    avr_reset(avr);
    in_head = in_tail = 0;
    xon = 0;
    out_len = 0;
    fprintf(edges, "RESET %llu\n", (unsigned long long)avr->cycle);
    if (last_level) {
        last_level = 0;
        fprintf(edges, "EDGE %llu 0\n", (unsigned long long)avr->cycle);
    }
    edges_dirty = 1;
}

/* Read what the host wrote to the pty, write what the AVR sent. Returns 1 when a
   program has just opened the pty. */
static int service_pty(void) {
    int opened = 0;
    for (;;) {
        unsigned free_space = (in_tail + IN_SIZE - in_head - 1) % IN_SIZE;
        uint8_t tmp[512];
        size_t want = free_space < sizeof(tmp) ? free_space : sizeof(tmp);
        if (!want) break;
        ssize_t r = read(master, tmp, want);
        if (r < 0 && errno == EIO) { /* no program has the slave side open */
            client_open = 0;
            break;
        }
        if (!client_open) {
            client_open = 1;
            opened = 1;
            out_len = 0; /* sent while nobody listened */
        }
        if (r <= 0) break; /* EAGAIN: nothing to read */
        for (ssize_t i = 0; i < r; ++i) {
            in_buf[in_head] = tmp[i];
            in_head = (in_head + 1) % IN_SIZE;
        }
    }
    push_input();
    /* edges first: a host that sees a reply byte must find every earlier edge logged */
    if (edges_dirty) {
        fflush(edges);
        edges_dirty = 0;
    }
    if (out_len) flush_out();
    return opened;
}

static void usage(void) {
    fprintf(stderr,
            "usage: twin_sim [--edges FILE] [--fast] [--boot-ms MS] [--no-reset] [--trace-uart] "
            "firmware.elf\n");
    exit(2);
}

int main(int argc, char** argv) {
    const char* elf_path = NULL;
    const char* edges_path = NULL;
    int fast = 0;
    long boot_ms = 100;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--edges") && i + 1 < argc) {
            edges_path = argv[++i];
        } else if (!strcmp(argv[i], "--boot-ms") && i + 1 < argc) {
            boot_ms = atol(argv[++i]);
        } else if (!strcmp(argv[i], "--no-reset")) {
            reset_on_open = 0;
        } else if (!strcmp(argv[i], "--fast")) {
            fast = 1;
        } else if (!strcmp(argv[i], "--trace-uart")) {
            trace_uart = 1;
        } else if (argv[i][0] == '-' || elf_path) {
            usage();
        } else {
            elf_path = argv[i];
        }
    }
    if (!elf_path) usage();

    edges = stdout;
    if (edges_path && strcmp(edges_path, "-")) {
        edges = fopen(edges_path, "w");
        if (!edges) {
            fprintf(stderr, "twin_sim: cannot write %s: %s\n", edges_path, strerror(errno));
            return 1;
        }
    }

    /* libsimavr chats on stdout while loading ("Loaded ... .text"): keep stdout for
       the PTY line and the edges */
    fflush(stdout);
    int saved_stdout = dup(1);
    dup2(2, 1);
    elf_firmware_t fw;
    memset(&fw, 0, sizeof(fw));
    if (elf_read_firmware(elf_path, &fw) != 0) {
        fprintf(stderr, "twin_sim: cannot load %s\n", elf_path);
        return 1;
    }
    if (!fw.mmcu[0]) strcpy(fw.mmcu, MCU);
    if (!fw.frequency) fw.frequency = FREQ;
    avr = avr_make_mcu_by_name(fw.mmcu);
    if (!avr) {
        fprintf(stderr, "twin_sim: unknown MCU %s\n", fw.mmcu);
        return 1;
    }
    avr_init(avr);
    avr_load_firmware(avr, &fw);
    avr->log = LOG_ERROR;
    fflush(stdout);
    dup2(saved_stdout, 1);
    close(saved_stdout);

    /* Timer1, for the exact times of the edges it makes */
    for (avr_io_t* io = avr->io_port; io; io = io->next) {
        if (io->kind && !strcmp(io->kind, "timer") && ((avr_timer_t*)io)->name == '1') {
            timer1 = (avr_timer_t*)io;
        }
    }

    /* the pty, raw on both sides (no echo, no line editing, no \n -> \r\n) */
    int slave = -1;
    char name[256];
    if (openpty(&master, &slave, name, NULL, NULL) < 0) {
        fprintf(stderr, "twin_sim: openpty: %s\n", strerror(errno));
        return 1;
    }
    struct termios tio;
    tcgetattr(master, &tio);
    cfmakeraw(&tio);
    tcsetattr(master, TCSANOW, &tio);
    tcgetattr(slave, &tio);
    cfmakeraw(&tio);
    tcsetattr(slave, TCSANOW, &tio);
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    /* Without --no-reset the slave is closed here: the master reads EIO until a program
       opens it, which is how an open is noticed. With it, it stays open (no EIO). */
    if (reset_on_open) {
        close(slave);
        slave = -1;
    } else {
        client_open = 1;
    }

    /* USART0 <-> pty, with simavr's flow control (XON/XOFF IRQs) */
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                            uart_out_hook, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
                            xon_hook, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
                            xoff_hook, NULL);

    /* the clock pin, and PINB reading it (avr_register_io_read refuses a second reader) */
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('B'), 1), pin_hook, NULL);
    avr_io_addr_t pinb_io = AVR_DATA_TO_IO(PINB_ADDR);
    pinb_read_port = avr->io[pinb_io].r.c;
    pinb_read_param = avr->io[pinb_io].r.param;
    if (!pinb_read_port) {
        fprintf(stderr, "twin_sim: no PINB reader in this simavr\n");
        return 1;
    }
    avr->io[pinb_io].r.c = pinb_read;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    printf("PTY %s\n", name);
    fflush(stdout);

    uint64_t start = now_ns(), wall0 = start, cycle0 = avr->cycle;
    uint64_t hold_until = 0; /* wall clock: the board is held in reset until then */
    int state = cpu_Running;
    while (!stop_flag) {
        if (hold_until) {
            if (service_pty() || now_ns() < hold_until) { /* reopened: hold on */
                in_head = in_tail = 0;                     /* the bootloader eats it */
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
                continue;
            }
            hold_until = 0;
            board_reset();
            wall0 = now_ns(); /* pace from here */
            cycle0 = avr->cycle;
        }
        avr_cycle_count_t target = avr->cycle + SERVICE_CYCLES;
        while (avr->cycle < target) {
            state = avr_run(avr);
            if (state == cpu_Done || state == cpu_Crashed) break;
        }
        if (state == cpu_Done || state == cpu_Crashed) {
            fprintf(stderr, "twin_sim: the AVR %s at cycle %llu\n",
                    state == cpu_Done ? "stopped" : "crashed", (unsigned long long)avr->cycle);
            break;
        }
        if (service_pty() && reset_on_open) {
            hold_until = now_ns() + (uint64_t)(boot_ms > 0 ? boot_ms : 0) * 1000000u + 1;
            continue;
        }
        if (!fast) {
            uint64_t sim_ns = (avr->cycle - cycle0) * 1000u / (FREQ / 1000000u);
            uint64_t wall = now_ns() - wall0;
            if (sim_ns > wall + 200000u) {
                /* ahead of the clock: wait, but wake at once when the host writes */
                wait_input(sim_ns - wall);
            } else if (wall > sim_ns + 100000000u) {
                /* more than 100 ms behind (a slow host): do not race to catch up */
                wall0 += wall - sim_ns;
            }
        }
    }
    service_pty();
    fflush(edges);
    double secs = (double)(now_ns() - start) / 1e9;
    fprintf(stderr, "END %llu %.1f\n", (unsigned long long)avr->cycle,
            secs > 0 ? (double)(avr->cycle - cycle0) / secs / 1e6 : 0.0);
    if (edges != stdout) fclose(edges);
    close(master);
    if (slave >= 0) close(slave);
    return state == cpu_Crashed ? 1 : 0;
}
