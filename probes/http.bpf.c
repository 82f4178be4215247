// SPDX-License-Identifier: GPL-2.0
/*
 * http: socket system calls of selected processes, with the first bytes of
 * what they read and write, for zero-code HTTP/1.x spans
 * (lib/sources/http/ turns these events into server and client spans).
 *
 * Syscall tracepoints only (no kprobes, no fentry): accept/accept4, connect,
 * read/recvfrom/readv/recvmsg, write/sendto/writev/sendmsg/sendfile64,
 * close; sock:inet_sock_set_state for the outcome of connects;
 * sched_process_fork/exec/exit to follow processes. The fd is resolved to
 * its TCP socket through the current task's file table (CO-RE reads), which
 * also gives the connection's 4-tuple. A call's arguments wait for its exit
 * in BPF task storage (no hash table).
 *
 * Selection happens here, first thing in every program: a process is traced
 * when its tgid is in `http_pids`. The agent puts --pid there, and processes
 * already listening on selected ports or running a selected executable; a
 * process that accepts a connection on a port in `http_ports` (--open-port)
 * is added by accept's exit; with --exe, execs of untraced processes are
 * reported so the agent can add them; children of traced processes are
 * added at fork; exited ones are removed. Other processes cost one hash
 * lookup per call.
 *
 * One event per call that moved bytes on a TCP socket (and per accept,
 * connect, close of one), with up to `capture_bytes` (config, at most
 * HTTP_MAX_CAPTURE) of the data, from up to HTTP_MAX_IOV iovecs. Records
 * are sized exactly (a dynptr reservation of header + bytes to capture,
 * filled through a stack chunk in a bpf_loop); no per-CPU scratch buffer,
 * which a preempted program could share. The agent is woken only when the
 * ring is 1/8 full (or for an exec): it looks every 10 ms while events flow.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "spanprobe.bpf.h"

#define HTTP_MAX_CAPTURE 4096 /* a power of two */
#define HTTP_MAX_IOV 8
#define HTTP_CHUNK 128 /* bytes copied per step through the stack */
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define IPPROTO_TCP 6

enum http_kind {
    HK_ACCEPT = 1,
    HK_CONNECT = 2,
    HK_RECV = 3,
    HK_SEND = 4,
    HK_CLOSE = 5,
    HK_EXEC = 6, /* a process exec'd (only with HTTP_CFG_EXEC: the agent matches its executable) */
    HK_EXIT = 7, /* a traced process exits (its connections end with it) */
};

/* What the agent reads: a fixed 96-byte header, then `captured` bytes. */
struct http_event {
    u64 start_ns;  /* syscall entry (bpf_ktime_get_ns) */
    u64 end_ns;    /* syscall exit */
    u64 sock;      /* the struct sock address: the connection's identity while it lives */
    s64 ret;       /* bytes moved, the new fd (accept), or -errno */
    u32 pid;       /* tgid */
    u32 tid;
    u32 fd;
    u32 captured;  /* bytes of data that follow */
    u16 lport;     /* local port, host order */
    u16 rport;     /* remote port, host order */
    u8 kind;       /* enum http_kind */
    u8 family;     /* AF_INET or AF_INET6 */
    u8 pad[2];
    u8 laddr[16];  /* IPv4 in the first 4 bytes */
    u8 raddr[16];
    u8 pad2[8];
};

/* An entered call waiting for its exit. */
struct http_call {
    u64 start_ns;
    u64 buf;  /* buffer, iovec array, or user_msghdr */
    u32 fd;
    u8 kind;  /* HK_RECV / HK_SEND / HK_ACCEPT / HK_CONNECT */
    u8 vec;   /* 0 plain buffer, 1 iovec array (len in iovlen), 2 msghdr, 3 no data */
    u8 active; /* entered and not exited yet */
    u8 pad;
    u64 iovlen;
};

struct http_config {
    u32 capture_bytes;
    u32 flags; /* HTTP_CFG_* */
};

#define HTTP_CFG_EXEC 1 /* report execs of untraced processes (selection by executable) */

/* Counters the agent reads (array "http_counters"). */
enum http_counter {
    HC_PIDS_FULL = 0,   /* a process could not be added to http_pids */
    HC_CALLS_FULL = 1,  /* an entered call could not be remembered (task storage) */
    HC_MAX = 4,
};

#define HTTP_RING_BYTES (8 * 1024 * 1024)
SPANPROBE_RINGBUF(http_events, struct http_event, HTTP_RING_BYTES);

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16384);
    __type(key, u32);
    __type(value, u8);
} http_pids SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, u16);
    __type(value, u8);
} http_ports SEC(".maps");

/* The call a thread is in, kept with the task itself (no hash table, freed with the task). */
struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct http_call);
} http_calls SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct http_config);
} http_config SEC(".maps");

/* Connects of traced processes not settled yet: socket → tgid (from connect's entry to its outcome). */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, u64);
    __type(value, u32);
} http_connecting SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, HC_MAX);
    __type(key, u32);
    __type(value, u64);
} http_counters SEC(".maps");

/* The record layouts of syscalls:sys_enter_* / sys_exit_* (args are 8 bytes each). */
struct sys_enter_args {
    u64 common;
    s64 nr;
    u64 args[6];
};

struct sys_exit_args {
    u64 common;
    s64 nr;
    s64 ret;
};

static __always_inline void count(u32 which)
{
    u64 *c = bpf_map_lookup_elem(&http_counters, &which);
    if (c)
        (*c)++;
}

static __always_inline int traced(u32 tgid)
{
    return bpf_map_lookup_elem(&http_pids, &tgid) != 0;
}

/* The TCP socket behind `fd` of the current task, or NULL. */
static __always_inline struct sock *tcp_sock_of_fd(u32 fd)
{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
    struct file **fds;
    struct file *f = 0;
    struct socket *sock;
    struct sock *sk;
    u32 mode;

    if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
        return 0;
    fds = BPF_CORE_READ(fdt, fd);
    if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) < 0 || !f)
        return 0;
    mode = BPF_CORE_READ(f, f_inode, i_mode);
    if ((mode & S_IFMT) != S_IFSOCK)
        return 0;
    sock = BPF_CORE_READ(f, private_data);
    if (!sock)
        return 0;
    sk = BPF_CORE_READ(sock, sk);
    if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
        return 0;
    return sk;
}

/* Fill the event's address fields from `sk`; 0 when it is not IPv4/IPv6. */
static __always_inline int fill_tuple(struct http_event *ev, struct sock *sk)
{
    u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

    ev->sock = (u64)sk;
    ev->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
    ev->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (family == AF_INET) {
        __builtin_memset(ev->laddr, 0, 16);
        __builtin_memset(ev->raddr, 0, 16);
        BPF_CORE_READ_INTO((u32 *)ev->laddr, sk, __sk_common.skc_rcv_saddr);
        BPF_CORE_READ_INTO((u32 *)ev->raddr, sk, __sk_common.skc_daddr);
    } else if (family == AF_INET6) {
        BPF_CORE_READ_INTO((struct in6_addr *)ev->laddr, sk, __sk_common.skc_v6_rcv_saddr);
        BPF_CORE_READ_INTO((struct in6_addr *)ev->raddr, sk, __sk_common.skc_v6_daddr);
    } else {
        return 0;
    }
    ev->family = family;
    return 1;
}

static __always_inline u32 config_flags(void)
{
    u32 zero = 0;
    struct http_config *cfg = bpf_map_lookup_elem(&http_config, &zero);
    return cfg ? cfg->flags : 0;
}

static __always_inline u32 capture_limit(void)
{
    u32 zero = 0;
    struct http_config *cfg = bpf_map_lookup_elem(&http_config, &zero);
    u32 n = cfg ? cfg->capture_bytes : 0;
    return n > HTTP_MAX_CAPTURE ? HTTP_MAX_CAPTURE : n;
}

/* The state of one capture: where the bytes come from and how far it got. */
struct copy_ctx {
    struct bpf_dynptr *rec;
    u64 src;     /* current user buffer */
    u64 left;    /* bytes left in it */
    u64 iov;     /* next iovec (user address), 0 when none */
    u64 iovlen;  /* iovecs left after the current buffer */
    u32 want;    /* bytes to capture in all */
    u32 got;     /* bytes captured so far */
    u8 chunk[HTTP_CHUNK];
};

/*
 * One step of a capture (a bpf_loop callback, so the verifier checks it
 * once): move to the next iovec when the current buffer is done, then copy
 * up to HTTP_CHUNK bytes through the stack into the record (user memory
 * cannot be written into a dynptr directly). Returns 1 to stop.
 */
static long copy_step(u64 index, struct copy_ctx *c)
{
    u64 n;

    if (c->got >= c->want)
        return 1;
    if (c->left == 0) {
        struct iovec v;
        if (c->iovlen == 0 || !c->iov)
            return 1;
        if (bpf_probe_read_user(&v, sizeof(v), (void *)c->iov) < 0)
            return 1;
        c->iov += sizeof(struct iovec);
        c->iovlen--;
        c->src = (u64)v.iov_base;
        c->left = v.iov_len;
        return 0;
    }
    n = c->want - c->got;
    if (n > c->left)
        n = c->left;
    if (n > HTTP_CHUNK)
        n = HTTP_CHUNK;
    if (n == 0)
        return 1;
    if (bpf_probe_read_user(c->chunk, n, (void *)c->src) < 0)
        return 1;
    if (bpf_dynptr_write(c->rec, sizeof(struct http_event) + c->got, c->chunk, n, 0) < 0)
        return 1;
    c->got += n;
    c->src += n;
    c->left -= n;
    return 0;
}

/* Capture up to `want` bytes of a finished read/write into the record; returns bytes captured. */
static __always_inline u32 capture(struct bpf_dynptr *rec, struct http_call *call, u32 want)
{
    struct copy_ctx c;

    c.rec = rec;
    c.want = want;
    c.got = 0;
    if (call->vec == 0) {
        c.src = call->buf;
        c.left = want;
        c.iov = 0;
        c.iovlen = 0;
    } else {
        c.src = 0;
        c.left = 0;
        c.iov = call->buf;
        c.iovlen = call->iovlen;
        if (call->vec == 2) {
            struct user_msghdr msg;
            if (bpf_probe_read_user(&msg, sizeof(msg), (void *)call->buf) < 0)
                return 0;
            c.iov = (u64)msg.msg_iov;
            c.iovlen = msg.msg_iovlen;
        }
        if (c.iovlen > HTTP_MAX_IOV)
            c.iovlen = HTTP_MAX_IOV;
    }
    bpf_loop(HTTP_MAX_CAPTURE / HTTP_CHUNK + 2 * HTTP_MAX_IOV, copy_step, &c, 0);
    return c.got;
}

/*
 * Wake the agent only once the ring is 1/8 full. spanprobe.bpf.h's policy
 * (also a wakeup per CPU and millisecond) cost ~0.5-1 µs per request here
 * (bench/http_bench.ts): the wakeup's irq work runs inside the traced
 * process's syscall. The agent looks at the ring every 10 ms while events
 * flow (100 ms when idle), which bounds the delay; spans wait 100 ms for late
 * links anyway.
 */
static __always_inline u64 wakeup_flags(void)
{
    return bpf_ringbuf_query(&http_events, BPF_RB_AVAIL_DATA) * 8 >= HTTP_RING_BYTES ? BPF_RB_FORCE_WAKEUP
                                                                                       : BPF_RB_NO_WAKEUP;
}

/* Write `ev` plus up to `want` captured bytes of `call` as one record (exactly sized); `wake`: wake the agent now. */
static __always_inline void emit(struct http_event *ev, struct http_call *call, u64 want, int wake)
{
    struct spanprobe_stats_t *st = spanprobe_stats_cpu();
    struct bpf_dynptr rec;

    if (want > HTTP_MAX_CAPTURE)
        want = HTTP_MAX_CAPTURE;
    if (bpf_ringbuf_reserve_dynptr(&http_events, sizeof(*ev) + want, 0, &rec) < 0) {
        bpf_ringbuf_discard_dynptr(&rec, 0);
        if (st)
            st->reserve_failures++;
        return;
    }
    ev->captured = want && call ? capture(&rec, call, (u32)want) : 0;
    bpf_dynptr_write(&rec, 0, ev, sizeof(*ev), 0);
    if (st)
        st->submitted++;
    bpf_ringbuf_submit_dynptr(&rec, wake ? BPF_RB_FORCE_WAKEUP : wakeup_flags());
}

static __always_inline int enter(u32 fd, u8 kind, u8 vec, u64 buf, u64 iovlen)
{
    u64 id = bpf_get_current_pid_tgid();
    struct http_call *call;

    if (!traced(id >> 32))
        return 0;
    call = bpf_task_storage_get(&http_calls, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!call) {
        count(HC_CALLS_FULL);
        return 0;
    }
    call->start_ns = bpf_ktime_get_ns();
    call->fd = fd;
    call->kind = kind;
    call->vec = vec;
    call->buf = buf;
    call->iovlen = iovlen;
    call->active = 1;
    return 0;
}

static __always_inline int exit_call(s64 ret)
{
    u64 id = bpf_get_current_pid_tgid();
    struct http_call *call;
    struct http_event ev = {};
    struct sock *sk;
    u64 want = 0;
    u32 fd;

    if (!traced(id >> 32))
        return 0;
    call = bpf_task_storage_get(&http_calls, bpf_get_current_task_btf(), 0, 0);
    if (!call || !call->active)
        return 0;
    /* accept: the new fd is the socket; others: the fd passed in */
    fd = call->kind == HK_ACCEPT ? (u32)ret : call->fd;
    if (call->kind == HK_ACCEPT && ret < 0)
        goto out;
    /* data calls that moved nothing (EAGAIN, EINTR, EOF) are of no interest; errors like ECONNRESET are */
    if ((call->kind == HK_RECV || call->kind == HK_SEND) && (ret == 0 || ret == -11 || ret == -4))
        goto out;
    sk = tcp_sock_of_fd(fd);
    if (!sk || !fill_tuple(&ev, sk))
        goto out;
    ev.start_ns = call->start_ns;
    ev.end_ns = bpf_ktime_get_ns();
    ev.ret = ret;
    ev.pid = id >> 32;
    ev.tid = (u32)id;
    ev.fd = fd;
    ev.kind = call->kind;
    if (call->kind == HK_CONNECT && ret != -115 /* EINPROGRESS */) {
        /* done: a failure is reported here unless the socket's state change reported it already */
        u64 key = (u64)sk;
        int pending = bpf_map_delete_elem(&http_connecting, &key) == 0;
        if (ret < 0 && !pending)
            goto out;
    }
    if (ret > 0 && (call->kind == HK_RECV || call->kind == HK_SEND) && call->vec != 3) {
        want = capture_limit();
        if ((u64)ret < want)
            want = ret;
    }
    emit(&ev, call, want, 0);
out:
    call->active = 0;
    return 0;
}

/* accept on a selected port selects the process; events only for traced processes. */
static __always_inline int accept_exit(s64 ret)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32;
    struct sock *sk;
    u16 port;
    u8 one = 1;

    if (ret >= 0 && !traced(tgid)) {
        sk = tcp_sock_of_fd((u32)ret);
        if (!sk)
            return 0;
        port = BPF_CORE_READ(sk, __sk_common.skc_num);
        if (!bpf_map_lookup_elem(&http_ports, &port))
            return 0;
        if (bpf_map_update_elem(&http_pids, &tgid, &one, BPF_NOEXIST) < 0 && !traced(tgid)) {
            count(HC_PIDS_FULL);
            return 0;
        }
        /* no entry was recorded at accept's entry: record one now */
        enter(0, HK_ACCEPT, 3, 0, 0);
    }
    return exit_call(ret);
}

SEC("tracepoint/syscalls/sys_enter_accept")
int http_accept_enter(struct sys_enter_args *ctx)
{
    return enter(ctx->args[0], HK_ACCEPT, 3, 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int http_accept_exit(struct sys_exit_args *ctx)
{
    return accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int http_accept4_enter(struct sys_enter_args *ctx)
{
    return enter(ctx->args[0], HK_ACCEPT, 3, 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int http_accept4_exit(struct sys_exit_args *ctx)
{
    return accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int http_connect_enter(struct sys_enter_args *ctx)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    struct sock *sk;
    u64 key;

    if (!traced(tgid))
        return 0;
    /* remembered before the SYN goes out: on loopback a refusal arrives within the call */
    sk = tcp_sock_of_fd(ctx->args[0]);
    if (sk) {
        key = (u64)sk;
        bpf_map_update_elem(&http_connecting, &key, &tgid, BPF_ANY);
    }
    return enter(ctx->args[0], HK_CONNECT, 3, 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int http_connect_exit(struct sys_exit_args *ctx)
{
    return exit_call(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_read")
int http_read_enter(struct sys_enter_args *ctx)
{
    return enter(ctx->args[0], HK_RECV, 0, ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_read")
int http_read_exit(struct sys_exit_args *ctx)
{
    return exit_call(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int http_recvfrom_enter(struct sys_enter_args *ctx)
{
    return enter(ctx->args[0], HK_RECV, 0, ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int http_recvfrom_exit(struct sys_exit_args *ctx)
{
    return exit_call(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int http_readv_enter(struct sys_enter_args *ctx)
{
    return enter(ctx->args[0], HK_RECV, 1, ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int http_readv_exit(struct sys_exit_args *ctx)
{
    return exit_call(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int http_recvmsg_enter(struct sys_enter_args *ctx)
{
    return enter(ctx->args[0], HK_RECV, 2, ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int http_recvmsg_exit(struct sys_exit_args *ctx)
{
    return exit_call(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_write")
int http_write_enter(struct sys_enter_args *ctx)
{
    return enter(ctx->args[0], HK_SEND, 0, ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_write")
int http_write_exit(struct sys_exit_args *ctx)
{
    return exit_call(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int http_sendto_enter(struct sys_enter_args *ctx)
{
    return enter(ctx->args[0], HK_SEND, 0, ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int http_sendto_exit(struct sys_exit_args *ctx)
{
    return exit_call(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int http_writev_enter(struct sys_enter_args *ctx)
{
    return enter(ctx->args[0], HK_SEND, 1, ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int http_writev_exit(struct sys_exit_args *ctx)
{
    return exit_call(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int http_sendmsg_enter(struct sys_enter_args *ctx)
{
    return enter(ctx->args[0], HK_SEND, 2, ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int http_sendmsg_exit(struct sys_exit_args *ctx)
{
    return exit_call(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendfile64")
int http_sendfile_enter(struct sys_enter_args *ctx)
{
    return enter(ctx->args[0], HK_SEND, 3, 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int http_sendfile_exit(struct sys_exit_args *ctx)
{
    return exit_call(ctx->ret);
}

/* close: reported at entry, while the fd still names the socket. */
SEC("tracepoint/syscalls/sys_enter_close")
int http_close_enter(struct sys_enter_args *ctx)
{
    u64 id = bpf_get_current_pid_tgid();
    struct http_event ev = {};
    struct sock *sk;

    if (!traced(id >> 32))
        return 0;
    sk = tcp_sock_of_fd(ctx->args[0]);
    if (!sk || !fill_tuple(&ev, sk))
        return 0;
    ev.start_ns = ev.end_ns = bpf_ktime_get_ns();
    ev.pid = id >> 32;
    ev.tid = (u32)id;
    ev.fd = ctx->args[0];
    ev.kind = HK_CLOSE;
    emit(&ev, 0, 0, 0);
    return 0;
}

/*
 * The outcome of a connect, also a non-blocking one (whose failure is not a
 * syscall's return value): SYN_SENT → CLOSE means it failed; report it as a
 * connect event with -sk_err, once (connect's exit reports only what this did
 * not). Runs in whatever context the state changes (often softirq), so the
 * process comes from http_connecting, filled at connect's entry.
 */
SEC("tracepoint/sock/inet_sock_set_state")
int http_sock_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
    struct http_event ev = {};
    struct sock *sk;
    u64 key;
    u32 *tgid;

    if (ctx->protocol != IPPROTO_TCP || ctx->oldstate != TCP_SYN_SENT)
        return 0;
    key = (u64)ctx->skaddr;
    tgid = bpf_map_lookup_elem(&http_connecting, &key);
    if (!tgid)
        return 0;
    if (ctx->newstate == TCP_CLOSE) {
        sk = (struct sock *)ctx->skaddr;
        if (fill_tuple(&ev, sk)) {
            ev.start_ns = ev.end_ns = bpf_ktime_get_ns();
            ev.pid = *tgid;
            ev.ret = -(s64)BPF_CORE_READ(sk, sk_err);
            if (ev.ret == 0)
                ev.ret = -111; /* ECONNREFUSED when the error is already consumed */
            ev.kind = HK_CONNECT;
            emit(&ev, 0, 0, 0);
        }
    }
    bpf_map_delete_elem(&http_connecting, &key);
    return 0;
}

/*
 * Children of traced processes are traced (pre-fork servers, workers). The
 * tracepoint cannot tell a new thread from a new process, so new threads are
 * added too (harmless: a thread's id is never another process's tgid while it
 * lives) and every task's id is removed again when it exits.
 */
SEC("tracepoint/sched/sched_process_fork")
int http_fork(struct trace_event_raw_sched_process_fork *ctx)
{
    u32 parent = bpf_get_current_pid_tgid() >> 32;
    u32 child = ctx->child_pid;
    u8 one = 1;

    if (!traced(parent))
        return 0;
    if (bpf_map_update_elem(&http_pids, &child, &one, BPF_ANY) < 0)
        count(HC_PIDS_FULL);
    return 0;
}

/* With selection by executable, every exec of an untraced process is reported (header only). */
SEC("tracepoint/sched/sched_process_exec")
int http_exec(void *ctx)
{
    u64 id = bpf_get_current_pid_tgid();
    struct http_event ev = {};

    if (!(config_flags() & HTTP_CFG_EXEC) || traced(id >> 32))
        return 0;
    ev.start_ns = ev.end_ns = bpf_ktime_get_ns();
    ev.pid = id >> 32;
    ev.tid = (u32)id;
    ev.kind = HK_EXEC;
    emit(&ev, 0, 0, 1); /* rare, and the sooner the agent selects it, the fewer of its first calls are missed */
    return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int http_exit(void *ctx)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    struct http_event ev = {};

    /* a traced process's main thread exits: its sockets close without close() calls, so say so */
    if (tid == id >> 32 && traced(tid)) {
        ev.start_ns = ev.end_ns = bpf_ktime_get_ns();
        ev.pid = tid;
        ev.tid = tid;
        ev.kind = HK_EXIT;
        emit(&ev, 0, 0, 0);
    }
    bpf_map_delete_elem(&http_pids, &tid);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
