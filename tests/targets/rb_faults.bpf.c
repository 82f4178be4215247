// SPDX-License-Identifier: GPL-2.0
/*
 * rb_faults: faults for the ring-buffer source (tests/ringbuf_faults_test.ts).
 * On exec of a program whose comm is
 *   "rbf_garbage": 256 records of random bytes (ids, times, state, name) into
 *                  garbage_spans: corrupted records;
 *   "rbf_burst":   `burst` (map burst_count) valid records in one go into the
 *                  4 KiB burst_spans: the ring overflows, reserve failures are
 *                  counted in spanprobe_stats.
 * When map owner_tgid holds a pid (the test process), only programs that
 * process started count: parallel runs of the test on one machine exec the
 * same comms and would otherwise trigger each other's probe. 0: anyone.
 * Config: rb_faults.yaml.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "spanprobe.bpf.h"

struct fault_span {
    struct span_base base;
    u32 state;
    u32 pad;
    char name[16];
};

SPANPROBE_RINGBUF(garbage_spans, struct fault_span, 256 * 1024);
SPANPROBE_RINGBUF(burst_spans, struct fault_span, 4096);

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, u32);
} burst_count SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, u32);
} owner_tgid SEC(".maps");

static long garbage_one(u32 i, void *ctx)
{
    struct fault_span *rec = spanprobe_reserve(&garbage_spans, struct fault_span);
    u32 *w;

    if (!rec)
        return 0;
    w = (u32 *)rec;
#pragma unroll
    for (int k = 0; k < sizeof(struct fault_span) / 4; k++)
        w[k] = bpf_get_prandom_u32();
    spanprobe_submit(&garbage_spans, rec);
    return 0;
}

static long burst_one(u32 i, void *ctx)
{
    struct fault_span *rec = spanprobe_reserve(&burst_spans, struct fault_span);

    if (!rec)
        return 0;
    spanprobe_new_root(&rec->base);
    rec->base.span_monotonic_timestamp_ns = bpf_ktime_get_ns();
    rec->base.span_duration_ns = 1000;
    rec->state = 1;
    rec->pad = 0;
    __builtin_memcpy(rec->name, "burst\0\0\0\0\0\0\0\0\0\0\0", 16);
    spanprobe_submit(&burst_spans, rec);
    return 0;
}

static __always_inline int comm_is(const char *comm, const char *want)
{
#pragma unroll
    for (int i = 0; i < 12; i++) {
        if (comm[i] != want[i])
            return 0;
        if (!want[i])
            return 1;
    }
    return 1;
}

SEC("tracepoint/sched/sched_process_exec")
int rbf_exec(void *ctx)
{
    char comm[16];
    u32 zero = 0;
    u32 *n;

    u32 *owner = bpf_map_lookup_elem(&owner_tgid, &zero);
    if (owner && *owner) {
        struct task_struct *task = (struct task_struct *)bpf_get_current_task();
        if (BPF_CORE_READ(task, real_parent, tgid) != *owner)
            return 0;
    }
    bpf_get_current_comm(comm, sizeof(comm));
    if (comm_is(comm, "rbf_garbage")) {
        bpf_loop(256, garbage_one, NULL, 0);
    } else if (comm_is(comm, "rbf_burst")) {
        n = bpf_map_lookup_elem(&burst_count, &zero);
        if (n)
            bpf_loop(*n, burst_one, NULL, 0);
    }
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
