// SPDX-License-Identifier: GPL-2.0
/*
 * Ring-buffer benchmark probe: one 80-byte span record per getppid() call
 * made by the target process (its tgid is written into bench_config by the
 * consumer). The generator (ringbuf_gen.c) calls getppid() in a loop.
 * Build with -DSPANPROBE_DEFAULT_WAKEUP to get the kernel's wakeup per
 * record instead of spanprobe's batched wakeups.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include "spanprobe.bpf.h"

#ifndef BENCH_RING_BYTES
#define BENCH_RING_BYTES (32 * 1024 * 1024)
#endif

struct bench_span {
    struct span_base base; /* 48 */
    u64 seq;
    u32 pid;
    u32 tid;
    char comm[16];
}; /* 80 bytes */

SPANPROBE_RINGBUF(bench_spans, struct bench_span, BENCH_RING_BYTES);

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, u32); /* target tgid; 0 = none */
} bench_config SEC(".maps");

static u64 seq;

SEC("tracepoint/syscalls/sys_enter_getppid")
int bench_getppid(void *ctx)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 zero = 0, *target = bpf_map_lookup_elem(&bench_config, &zero);
    struct bench_span *rec;

    if (!target || *target != (u32)(pid_tgid >> 32))
        return 0;
    rec = spanprobe_reserve(&bench_spans, struct bench_span);
    if (!rec)
        return 0;
    spanprobe_new_root(&rec->base);
    rec->base.span_monotonic_timestamp_ns = bpf_ktime_get_ns();
    rec->base.span_duration_ns = 1000;
    rec->seq = seq++; /* one producer thread: no atomics needed */
    rec->pid = pid_tgid >> 32;
    rec->tid = (u32)pid_tgid;
    bpf_get_current_comm(rec->comm, sizeof(rec->comm));
#ifdef SPANPROBE_DEFAULT_WAKEUP
    bpf_ringbuf_submit(rec, 0);
#else
    spanprobe_submit(&bench_spans, rec);
#endif
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
