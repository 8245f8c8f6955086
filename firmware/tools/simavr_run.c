/* Runs an AVR firmware ELF in simavr (libsimavr) and reports what firmforge needs:
 *
 *   simavr_run <mcu> <clock_hz> <firmware.elf> [max_cycles]
 *
 * - the firmware's USART0 output goes to stdout, byte for byte;
 * - every write to GPIOR0 is a mark: 1 starts an interval, 2 ends it, and the runner prints
 *   "ff:cycles <k> <cycles>" (k = 0, 1, ...) on stderr, from simavr's cycle counter; 3 inside
 *   an interval (a layer mark of a profile build) prints "ff:layer <k> <cycles so far>";
 * - the run ends when the firmware sleeps with interrupts off (simavr's cpu_Done): the exit
 *   code is then GPIOR1, where firmforge's ff_platform_exit writes the status; or when it
 *   reaches avr-libc's _exit (main returned, or exit() was called): the exit code is then r24,
 *   exit()'s argument (what follows there is "cli; rjmp .", a loop nothing leaves);
 * - a crash (simavr's cpu_Crashed: an access outside RAM, a jump past the end of flash)
 *   prints "ff:crash pc=0x..." on stderr and exits 3;
 * - more than max_cycles cycles prints "ff:cycle-limit <n> pc=0x... sp=0x..." and exits 4;
 * - SIGTERM (firmforge's wall-clock timeout) prints "ff:stopped pc=0x... sp=0x... cycle=<n>"
 *   and exits 4: where the firmware was (pc is a byte address, as avr-nm prints symbols).
 * Runner errors (bad arguments, an unreadable ELF, an unknown MCU) print "simavr_run: ..." and
 * exit 2. The cycle counts depend only on the ELF: every run gives the same numbers.
 *
 * GPIOR0/1 sit at data addresses 0x3E/0x4A on the megaAVR parts firmforge targets (ATmega48/88/
 * 168/328, 640/1280/2560). */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avr_uart.h>
#include <sim_avr.h>
#include <sim_elf.h>
#include <sim_io.h>
#include <sim_irq.h>

#define GPIOR0_ADDR 0x3E
#define GPIOR1_ADDR 0x4A
#define SPL_ADDR 0x5D /* SP, data address (I/O 0x3D) */
#define EXIT_RUNNER 2
#define EXIT_CRASH 3
#define EXIT_LIMIT 4

struct marks {
    avr_cycle_count_t start;
    int running;
    unsigned long count;
};

static volatile sig_atomic_t stop_requested;

static void on_sigterm(int sig) {
    (void)sig;
    stop_requested = 1;
}

static unsigned sp_of(const struct avr_t *avr) {
    return (unsigned)avr->data[SPL_ADDR] | (unsigned)avr->data[SPL_ADDR + 1] << 8;
}

static void uart_out(struct avr_irq_t *irq, uint32_t value, void *param) {
    (void)irq;
    (void)param;
    putchar((int)(value & 0xFFu));
}

static void gpior0_write(struct avr_t *avr, avr_io_addr_t addr, uint8_t v, void *param) {
    struct marks *m = param;
    avr->data[addr] = v; /* the hook replaces the plain store */
    if (v == 1) {
        m->start = avr->cycle;
        m->running = 1;
    } else if (v == 2 && m->running) {
        m->running = 0;
        fflush(stdout);
        fprintf(stderr, "ff:cycles %lu %" PRIu64 "\n", m->count++,
                (uint64_t)(avr->cycle - m->start));
    } else if (v == 3 && m->running) {
        fprintf(stderr, "ff:layer %lu %" PRIu64 "\n", m->count, (uint64_t)(avr->cycle - m->start));
    }
}

/* simavr's messages (errors only) go to stderr, never into the firmware's output on stdout. */
static void logger(struct avr_t *avr, const int level, const char *format, va_list ap) {
    (void)avr;
    if (level <= LOG_ERROR) {
        fputs("simavr: ", stderr);
        vfprintf(stderr, format, ap);
    }
}

int main(int argc, char **argv) {
    elf_firmware_t fw;
    struct marks marks = {0, 0, 0};
    unsigned long long limit = 0;
    char *end;
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "simavr_run: usage: simavr_run <mcu> <clock_hz> <firmware.elf> "
                        "[max_cycles]\n");
        return EXIT_RUNNER;
    }
    unsigned long hz = strtoul(argv[2], &end, 10);
    if (*end != '\0' || hz == 0) {
        fprintf(stderr, "simavr_run: bad clock '%s'\n", argv[2]);
        return EXIT_RUNNER;
    }
    if (argc == 5) {
        limit = strtoull(argv[4], &end, 10);
        if (*end != '\0') {
            fprintf(stderr, "simavr_run: bad cycle limit '%s'\n", argv[4]);
            return EXIT_RUNNER;
        }
    }
    signal(SIGTERM, on_sigterm);
    avr_global_logger_set(logger);
    memset(&fw, 0, sizeof fw);
    if (elf_read_firmware(argv[3], &fw) != 0) {
        fprintf(stderr, "simavr_run: cannot read ELF '%s'\n", argv[3]);
        return EXIT_RUNNER;
    }
    snprintf(fw.mmcu, sizeof fw.mmcu, "%s", argv[1]);
    fw.frequency = (uint32_t)hz;
    avr_t *avr = avr_make_mcu_by_name(fw.mmcu);
    if (avr == NULL) {
        fprintf(stderr, "simavr_run: simavr does not know the MCU '%s'\n", fw.mmcu);
        return EXIT_RUNNER;
    }
    avr_init(avr);
    avr->log = LOG_ERROR;
    avr_load_firmware(avr, &fw);
    avr->frequency = (uint32_t)hz;

    /* the runner prints the bytes itself: no line echo, no sleeping while the UART is polled */
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_POLL_SLEEP | AVR_UART_FLAG_STDIO);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                            uart_out, NULL);
    avr_register_io_write(avr, GPIOR0_ADDR, gpior0_write, &marks);

    uint32_t exit_pc = 0; /* 0: not found (no avr-libc); address 0 is the reset vector */
    for (uint32_t i = 0; i < fw.symbolcount; i++) {
        if (strcmp(fw.symbol[i]->symbol, "_exit") == 0) {
            exit_pc = fw.symbol[i]->addr;
        }
    }

    int status;
    for (;;) {
        int state = avr_run(avr);
        if (state == cpu_Done) {
            status = avr->data[GPIOR1_ADDR];
            break;
        }
        if (state == cpu_Crashed) {
            fflush(stdout);
            fprintf(stderr, "ff:crash pc=0x%04" PRIx32 " cycle=%" PRIu64 "\n",
                    (uint32_t)avr->pc, (uint64_t)avr->cycle);
            return EXIT_CRASH;
        }
        if (exit_pc != 0 && avr->pc == exit_pc) {
            status = avr->data[24];
            break;
        }
        if (limit && avr->cycle > limit) {
            fflush(stdout);
            fprintf(stderr, "ff:cycle-limit %llu pc=0x%04" PRIx32 " sp=0x%04x\n", limit,
                    (uint32_t)avr->pc, sp_of(avr));
            return EXIT_LIMIT;
        }
        if (stop_requested) {
            fflush(stdout);
            fprintf(stderr, "ff:stopped pc=0x%04" PRIx32 " sp=0x%04x cycle=%" PRIu64 "\n",
                    (uint32_t)avr->pc, sp_of(avr), (uint64_t)avr->cycle);
            return EXIT_LIMIT;
        }
    }
    fflush(stdout);
    return status;
}
