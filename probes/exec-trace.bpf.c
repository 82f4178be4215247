// SPDX-License-Identifier: GPL-2.0
/*
 * exec-trace: one span per process lifetime, from exec to exit, with comm,
 * filename, pid, ppid and exit code. A process's span nests under the span
 * of its nearest traced ancestor (parent, or the process it was forked from);
 * otherwise it starts a new trace. A process that execs again ends its span
 * at the new exec and starts a child span.
 *
 * Tracepoints only (sched:sched_process_exec/fork/exit): no kprobes needed.
 * Config: exec-trace.yaml.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "spanprobe.bpf.h"

#define FILENAME_LEN 128

struct exec_span {
    struct span_base base;
    u32 pid;
    u32 ppid;
    u32 exit_code;   /* exit status (0-255) */
    u32 exit_signal; /* terminating signal, 0 if none */
    char comm[16];
    char filename[FILENAME_LEN];
};

SPANPROBE_RINGBUF(exec_spans, struct exec_span, 256 * 1024);

/* Open spans of traced processes, by tgid. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, u32);
    __type(value, struct exec_span);
} open_spans SEC(".maps");

/* Span context inherited at fork by processes that have not exec'd yet, by pid. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, u32);
    __type(value, struct span_parent);
} inherited SEC(".maps");

/* Scratch space: a span is too big to build comfortably on the 512-byte stack. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct exec_span);
} scratch SEC(".maps");

static __always_inline void emit(struct exec_span *span, u64 now)
{
    struct exec_span *rec = spanprobe_reserve(&exec_spans, struct exec_span);

    if (!rec)
        return;
    __builtin_memcpy(rec, span, sizeof(*rec));
    rec->base.span_duration_ns = now - span->base.span_monotonic_timestamp_ns;
    spanprobe_submit(&exec_spans, rec);
}

SEC("tracepoint/sched/sched_process_exec")
int exectrace_exec(struct trace_event_raw_sched_process_exec *ctx)
{
    u64 now = bpf_ktime_get_ns();
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
    struct span_parent parent;
    struct exec_span *prev, *span;
    u32 zero = 0;
    unsigned short off;
    bool have_parent = false;

    span = bpf_map_lookup_elem(&scratch, &zero);
    if (!span)
        return 0;

    prev = bpf_map_lookup_elem(&open_spans, &tgid);
    if (prev) {
        /* exec again: the old image's span ends here, the new one is its child */
        emit(prev, now);
        spanprobe_parent_of(&parent, &prev->base);
        have_parent = true;
    } else {
        struct exec_span *pspan = bpf_map_lookup_elem(&open_spans, &ppid);
        struct span_parent *inh;

        if (pspan) {
            spanprobe_parent_of(&parent, &pspan->base);
            have_parent = true;
        } else if ((inh = bpf_map_lookup_elem(&inherited, &tgid))) {
            __builtin_memcpy(&parent, inh, sizeof(parent));
            have_parent = true;
        }
    }
    bpf_map_delete_elem(&inherited, &tgid);

    __builtin_memset(span, 0, sizeof(*span));
    if (have_parent)
        spanprobe_child_of(&span->base, &parent);
    else
        spanprobe_new_root(&span->base);
    span->base.span_monotonic_timestamp_ns = now;
    span->pid = tgid;
    span->ppid = ppid;
    bpf_get_current_comm(span->comm, sizeof(span->comm));
    off = ctx->__data_loc_filename & 0xFFFF;
    bpf_probe_read_kernel_str(span->filename, sizeof(span->filename), (void *)ctx + off);

    bpf_map_update_elem(&open_spans, &tgid, span, BPF_ANY);
    return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int exectrace_fork(struct trace_event_raw_sched_process_fork *ctx)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    u32 child = ctx->child_pid;
    struct exec_span *span;
    struct span_parent *inh;
    struct span_parent parent;

    span = bpf_map_lookup_elem(&open_spans, &tgid);
    if (span) {
        spanprobe_parent_of(&parent, &span->base);
        bpf_map_update_elem(&inherited, &child, &parent, BPF_ANY);
        return 0;
    }
    inh = bpf_map_lookup_elem(&inherited, &tgid);
    if (inh) {
        __builtin_memcpy(&parent, inh, sizeof(parent));
        bpf_map_update_elem(&inherited, &child, &parent, BPF_ANY);
    }
    return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int exectrace_exit(void *ctx)
{
    u64 now = bpf_ktime_get_ns();
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tgid = pid_tgid >> 32, pid = (u32)pid_tgid;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct exec_span *span;
    int code;

    bpf_map_delete_elem(&inherited, &pid);
    /* The span ends when the last thread of the process exits. */
    if (BPF_CORE_READ(task, signal, live.counter) != 0)
        return 0;

    span = bpf_map_lookup_elem(&open_spans, &tgid);
    if (!span)
        return 0;
    code = BPF_CORE_READ(task, exit_code);
    span->exit_code = (code >> 8) & 0xff;
    span->exit_signal = code & 0x7f;
    emit(span, now);
    bpf_map_delete_elem(&open_spans, &tgid);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
