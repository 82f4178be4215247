// SPDX-License-Identifier: GPL-2.0
/*
 * joined-trace: one trace with a program's own span and kernel child spans.
 *
 * The program fires USDT probes with its W3C trace context
 * (tests/targets/rb_demo.c):
 *   request_start(const char *traceparent, const char *name)
 *   request_end(const char *traceparent)
 * request_start stores the context in an LRU map keyed by thread id; while
 * it is there, kernel hooks emit child spans under the program's span:
 *   - every system call the thread makes (raw_syscalls:sys_enter/sys_exit),
 *     named after the syscall, with its return value and errno, and marked
 *     failed (span_status_code 2) when it returned an error;
 *   - every stretch the thread spends off CPU (sched:sched_switch out and
 *     back in), with the state it left in (sleeping, preempted, ...).
 * request_end emits the program's span itself (its span id is the one in
 * the traceparent; it is a root span).
 *
 * Tracepoints and USDT only: no kprobes or fentry needed.
 * The USDT programs (jt_req_start, jt_req_end) name no binary (SEC("usdt")):
 * attach them through tracing.attach in joined-trace.yaml or the agent's
 * attach option. Program names carry a jt_ prefix so they are easy to find
 * with bpftool.
 * Config: joined-trace.yaml.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "spanprobe.bpf.h"

#define NAME_LEN 32

struct request_span {
    struct span_base base;
    u32 pid;
    u32 tid;
    char name[NAME_LEN];
};

struct syscall_span {
    struct span_base base;
    u64 nr;
    u64 ret; /* return value when not an error */
    u32 err; /* errno when the call failed, else 0 */
    u32 tid;
    u32 status; /* span_status_code: 2 (error) when the call failed, else 0 (unset) */
    u32 pad;
};

struct off_cpu_span {
    struct span_base base;
    u64 prev_state; /* task state when it left the CPU: 0 preempted, 1 sleeping, 2 disk sleep */
    u32 cpu;        /* CPU it came back on */
    u32 tid;
};

SPANPROBE_RINGBUF(request_spans, struct request_span, 64 * 1024);
SPANPROBE_RINGBUF(syscall_spans, struct syscall_span, 1024 * 1024);
SPANPROBE_RINGBUF(off_cpu_spans, struct off_cpu_span, 256 * 1024);

struct request_ctx {
    struct span_parent parent; /* the program's trace id and current span id */
    u64 start_ns;
    char name[NAME_LEN];
};

struct pending {
    u64 start_ns;
    u64 what; /* syscall number, or task state */
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 10240);
    __type(key, u32);
    __type(value, struct request_ctx);
} traced_threads SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 10240);
    __type(key, u32);
    __type(value, struct pending);
} syscall_starts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 10240);
    __type(key, u32);
    __type(value, struct pending);
} off_cpu_starts SEC(".maps");

SEC("usdt")
int BPF_USDT(jt_req_start, void *traceparent, void *name)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct request_ctx req = {};

    if (spanprobe_parse_traceparent(traceparent, &req.parent) < 0)
        return 0;
    req.start_ns = bpf_ktime_get_ns();
    bpf_probe_read_user_str(req.name, sizeof(req.name), name);
    bpf_map_update_elem(&traced_threads, &tid, &req, BPF_ANY);
    bpf_map_delete_elem(&syscall_starts, &tid);
    bpf_map_delete_elem(&off_cpu_starts, &tid);
    return 0;
}

SEC("usdt")
int BPF_USDT(jt_req_end, void *traceparent)
{
    u64 now = bpf_ktime_get_ns();
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tid = (u32)pid_tgid;
    struct request_ctx *req = bpf_map_lookup_elem(&traced_threads, &tid);
    struct request_span *rec;

    if (!req)
        return 0;
    rec = spanprobe_reserve(&request_spans, struct request_span);
    if (rec) {
        __builtin_memcpy(rec->base.trace_id, req->parent.trace_id, 16);
        __builtin_memset(rec->base.parent_span_id, 0, 8);
        __builtin_memcpy(rec->base.span_id, req->parent.span_id, 8);
        rec->base.span_monotonic_timestamp_ns = req->start_ns;
        rec->base.span_duration_ns = now - req->start_ns;
        rec->pid = pid_tgid >> 32;
        rec->tid = tid;
        __builtin_memcpy(rec->name, req->name, NAME_LEN);
        spanprobe_submit(&request_spans, rec);
    }
    bpf_map_delete_elem(&traced_threads, &tid);
    bpf_map_delete_elem(&syscall_starts, &tid);
    bpf_map_delete_elem(&off_cpu_starts, &tid);
    return 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int jt_sys_enter(struct trace_event_raw_sys_enter *args)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct pending p;

    if (!bpf_map_lookup_elem(&traced_threads, &tid))
        return 0;
    p.start_ns = bpf_ktime_get_ns();
    p.what = args->id;
    bpf_map_update_elem(&syscall_starts, &tid, &p, BPF_ANY);
    return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int jt_sys_exit(struct trace_event_raw_sys_exit *args)
{
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct request_ctx *ctx;
    struct pending *p;
    struct syscall_span *rec;
    long ret;

    p = bpf_map_lookup_elem(&syscall_starts, &tid);
    if (!p)
        return 0;
    ctx = bpf_map_lookup_elem(&traced_threads, &tid);
    if (!ctx)
        goto out;
    rec = spanprobe_reserve(&syscall_spans, struct syscall_span);
    if (!rec)
        goto out;
    spanprobe_child_of_anon(&rec->base, &ctx->parent);
    rec->base.span_monotonic_timestamp_ns = p->start_ns;
    rec->base.span_duration_ns = now - p->start_ns;
    rec->nr = p->what;
    ret = args->ret;
    rec->ret = ret < 0 ? 0 : ret;
    rec->err = ret < 0 && ret > -4096 ? -ret : 0;
    rec->tid = tid;
    rec->status = rec->err ? 2 : 0;
    rec->pad = 0;
    spanprobe_submit(&syscall_spans, rec);
out:
    bpf_map_delete_elem(&syscall_starts, &tid);
    return 0;
}

SEC("tracepoint/sched/sched_switch")
int jt_sched_switch(struct trace_event_raw_sched_switch *args)
{
    u64 now = bpf_ktime_get_ns();
    u32 prev = args->prev_pid, next = args->next_pid;
    struct request_ctx *ctx;
    struct pending *p;
    struct off_cpu_span *rec;

    if (prev && bpf_map_lookup_elem(&traced_threads, &prev)) {
        struct pending out = { .start_ns = now, .what = args->prev_state & 0xff };
        bpf_map_update_elem(&off_cpu_starts, &prev, &out, BPF_ANY);
    }
    if (!next)
        return 0;
    p = bpf_map_lookup_elem(&off_cpu_starts, &next);
    if (!p)
        return 0;
    ctx = bpf_map_lookup_elem(&traced_threads, &next);
    if (ctx) {
        rec = spanprobe_reserve(&off_cpu_spans, struct off_cpu_span);
        if (rec) {
            spanprobe_child_of(&rec->base, &ctx->parent);
            rec->base.span_monotonic_timestamp_ns = p->start_ns;
            rec->base.span_duration_ns = now - p->start_ns;
            rec->prev_state = p->what;
            rec->cpu = bpf_get_smp_processor_id();
            rec->tid = next;
            spanprobe_submit(&off_cpu_spans, rec);
        }
    }
    bpf_map_delete_elem(&off_cpu_starts, &next);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
