/* QEMU TCG plugin: exact instruction counts between two code addresses.
 *
 *   qemu-system-arm ... -plugin libqemu_icount.so,start=0x<addr>,stop=0x<addr>[,layer=0x<addr>]
 *                   -d plugin
 *
 * Every translated instruction gets an inline "counter += 1" (no helper call, so the count is
 * exact even when a block is left half-way by an exception). The first instruction at `start`
 * and at `stop` (the entries of ff_platform_mark_start/stop) also get a callback: at `start`
 * the counter is remembered, at `stop` the difference is printed as
 *   ff:insns <k> <count>          (k = 0, 1, ... one line per start -> stop interval)
 * With `layer` (the entry of ff_platform_mark_layer, which a profile build calls after each
 * kernel), every execution of that address inside an interval prints
 *   ff:layer <k> <count so far in interval k>
 * so consecutive differences are the instructions of each layer, and the last layer line and
 * the interval's total bound the return to the stop mark. At exit
 *   ff:insns-total <n>
 * through qemu_plugin_outs (QEMU's log, shown with `-d plugin`). The count of an interval is
 * the number of instructions executed from the start mark's entry up to the stop mark's entry;
 * it depends only on the program, so every run of one ELF gives the same numbers. Without
 * start and stop only the total is printed.
 *
 * Debian's QEMU has plugin support but ships no qemu-plugin.h, so the few declarations of the
 * plugin API version 1 used here (QEMU 4.2 to 8.x) are written out below. Bit 0 of the
 * addresses is ignored (Thumb function symbols have it set). Single vCPU machines only: the
 * counter is one plain integer.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FF_EXPORT __attribute__((visibility("default")))

/* --- the subset of QEMU's plugin API (version 1) this plugin uses ------------------------- */
typedef uint64_t qemu_plugin_id_t;
typedef struct {
    const char *target_name;
    struct {
        int min;
        int cur;
    } version;
    bool system_emulation;
    union {
        struct {
            int smp_vcpus;
            int max_vcpus;
        } system;
    } u;
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                    void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);

FF_EXPORT int qemu_plugin_version = 1;
FF_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                  char **argv);
/* ------------------------------------------------------------------------------------------ */

/* A plugin is one process-wide instance, so its state is file-level. */
static uint64_t insns;        /* instructions executed so far (inline adds) */
static uint64_t mark_addr[3]; /* start, stop, layer */
static int layer_mark;        /* a layer address was given */
static int marks;             /* both given */
static uint64_t started_at;
static int running;           /* inside a start -> stop interval */
static uint64_t intervals;

static void on_start(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    started_at = insns;
    running = 1;
}

static void on_stop(unsigned int vcpu, void *udata) {
    char line[80];
    (void)vcpu;
    (void)udata;
    if (!running) {
        return;
    }
    running = 0;
    snprintf(line, sizeof line, "ff:insns %llu %llu\n", (unsigned long long)intervals++,
             (unsigned long long)(insns - started_at));
    qemu_plugin_outs(line);
}

static void on_layer(unsigned int vcpu, void *udata) {
    char line[80];
    (void)vcpu;
    (void)udata;
    if (running) {
        snprintf(line, sizeof line, "ff:layer %llu %llu\n", (unsigned long long)intervals,
                 (unsigned long long)(insns - started_at));
        qemu_plugin_outs(line);
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    size_t n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* both marks read the counter the same way when their instruction is reached, so the
         * difference is the instructions from one entry to the other */
        if (marks && pc == mark_addr[0]) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (marks && pc == mark_addr[1]) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_stop, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (layer_mark && pc == mark_addr[2]) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_layer, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &insns, 1);
    }
}

static void on_exit(qemu_plugin_id_t id, void *udata) {
    char line[64];
    (void)id;
    (void)udata;
    snprintf(line, sizeof line, "ff:insns-total %llu\n", (unsigned long long)insns);
    qemu_plugin_outs(line);
}

static int parse_addr(const char *arg, const char *key, uint64_t *out) {
    size_t k = strlen(key);
    char *end;
    if (strncmp(arg, key, k) != 0 || arg[k] != '=') {
        return 0;
    }
    *out = strtoull(arg + k + 1, &end, 0) & ~(uint64_t)1;
    return *end == '\0' && end != arg + k + 1;
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    int have[2] = {0, 0};
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (parse_addr(argv[i], "start", &mark_addr[0])) {
            have[0] = 1;
        } else if (parse_addr(argv[i], "stop", &mark_addr[1])) {
            have[1] = 1;
        } else if (parse_addr(argv[i], "layer", &mark_addr[2])) {
            layer_mark = 1;
        } else {
            fprintf(stderr, "qemu_icount: unknown or malformed argument '%s' (expected "
                            "start=0x<addr>,stop=0x<addr>[,layer=0x<addr>])\n", argv[i]);
            return -1;
        }
    }
    if (have[0] != have[1] || (have[0] && mark_addr[0] == mark_addr[1])) {
        fprintf(stderr, "qemu_icount: give both marks, at two different addresses "
                        "(start=0x...,stop=0x...), or neither (the total only)\n");
        return -1;
    }
    if (layer_mark && (!have[0] || mark_addr[2] == mark_addr[0] || mark_addr[2] == mark_addr[1])) {
        fprintf(stderr, "qemu_icount: a layer mark needs the start and stop marks, at three "
                        "different addresses\n");
        return -1;
    }
    marks = have[0];
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit, NULL);
    return 0;
}
