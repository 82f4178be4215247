/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * spanprobe.bpf.h: helpers for BPF programs that emit span records into
 * BPF_MAP_TYPE_RINGBUF maps for spanprobe's ring-buffer source.
 *
 * Include after vmlinux.h and <bpf/bpf_helpers.h>.
 *
 * A span record starts with `struct span_base` (48 bytes), which matches the
 * special labels of the spans config, in this order:
 *   trace_id (16), parent_span_id (8), span_id (8),
 *   span_monotonic_timestamp_ns (8), span_duration_ns (8)
 * Ids are stored as bytes in W3C order, so the `hex` decoder yields the same
 * text as a traceparent header. An all-zero span_id makes the agent generate
 * one; an all-zero parent_span_id makes a root span.
 *
 *   SPANPROBE_RINGBUF(exec_spans, struct exec_span, 256 * 1024);
 *   ...
 *   struct exec_span *rec = spanprobe_reserve(&exec_spans, struct exec_span);
 *   if (!rec) return 0;          // counted as a dropped event
 *   ... fill rec ...
 *   spanprobe_submit(&exec_spans, rec);
 *
 * Wakeups are batched: a record wakes the consumer only when this CPU has
 * not woken it for SPANPROBE_WAKEUP_INTERVAL_NS (1 ms), or, once the ring is
 * 1/SPANPROBE_WAKEUP_DIVISOR full, at most every SPANPROBE_WAKEUP_MIN_GAP_NS.
 * The agent polls with a bounded timeout, so a record is never stranded for
 * longer than that timeout.
 */
#ifndef SPANPROBE_BPF_H
#define SPANPROBE_BPF_H

#ifndef SPANPROBE_WAKEUP_DIVISOR
#define SPANPROBE_WAKEUP_DIVISOR 8
#endif

#ifndef SPANPROBE_WAKEUP_INTERVAL_NS
#define SPANPROBE_WAKEUP_INTERVAL_NS 1000000ULL /* 1 ms */
#endif

#ifndef SPANPROBE_WAKEUP_MIN_GAP_NS
#define SPANPROBE_WAKEUP_MIN_GAP_NS 50000ULL /* 50 µs */
#endif

/* The fixed head of every span record. */
struct span_base {
    u8 trace_id[16];
    u8 parent_span_id[8];
    u8 span_id[8];
    u64 span_monotonic_timestamp_ns; /* bpf_ktime_get_ns() at span start */
    u64 span_duration_ns;
};

/* A span context to attach children to: trace id plus the parent's span id. */
struct span_parent {
    u8 trace_id[16];
    u8 span_id[8];
};

/* Per-CPU bookkeeping the agent reads (map "spanprobe_stats"). */
struct spanprobe_stats_t {
    u64 reserve_failures; /* bpf_ringbuf_reserve() returned NULL: dropped events */
    u64 submitted;        /* records submitted */
    u64 last_wakeup_ns;   /* last forced wakeup on this CPU */
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct spanprobe_stats_t);
} spanprobe_stats SEC(".maps");

/*
 * Declares a span ring buffer `name` of `bytes` (a power of 2, page multiple)
 * and records that it carries `record_type`, so the agent can check the
 * config's label sizes against the real record size at load time.
 */
#define SPANPROBE_RINGBUF(name, record_type, bytes)                                                \
    struct {                                                                                       \
        __uint(type, BPF_MAP_TYPE_RINGBUF);                                                        \
        __uint(max_entries, bytes);                                                                \
    } name SEC(".maps");                                                                           \
    record_type spanprobe_record__##name

static __always_inline struct spanprobe_stats_t *spanprobe_stats_cpu(void)
{
    u32 zero = 0;
    return bpf_map_lookup_elem(&spanprobe_stats, &zero);
}

/* Reserve a record of `type` in ring buffer `rb`; NULL (and counted) when full. */
#define spanprobe_reserve(rb, type)                                                                \
    ({                                                                                             \
        type *__rec = bpf_ringbuf_reserve(rb, sizeof(type), 0);                                    \
        if (!__rec) {                                                                              \
            struct spanprobe_stats_t *__st = spanprobe_stats_cpu();                                \
            if (__st)                                                                              \
                __st->reserve_failures++;                                                          \
        }                                                                                          \
        __rec;                                                                                     \
    })

/*
 * Wakeup flags for a record about to be submitted to `rb` (batched wakeups):
 * force a wakeup when this CPU has not done so for SPANPROBE_WAKEUP_INTERVAL_NS,
 * or sooner (but at most every SPANPROBE_WAKEUP_MIN_GAP_NS) once the ring is
 * 1/SPANPROBE_WAKEUP_DIVISOR full; otherwise none. Forcing a wakeup on every
 * record while the ring is busy would cost the traced process about 1-2 µs each.
 */
static __always_inline u64 spanprobe_wakeup_flags(void *rb, struct spanprobe_stats_t *st)
{
    u64 now, since;

    if (!st)
        return 0; /* kernel default: wake when the consumer has caught up */
    now = bpf_ktime_get_ns();
    since = now - st->last_wakeup_ns;
    if (since >= SPANPROBE_WAKEUP_INTERVAL_NS ||
        (since >= SPANPROBE_WAKEUP_MIN_GAP_NS &&
         bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) * SPANPROBE_WAKEUP_DIVISOR >=
             bpf_ringbuf_query(rb, BPF_RB_RING_SIZE))) {
        st->last_wakeup_ns = now;
        return BPF_RB_FORCE_WAKEUP;
    }
    return BPF_RB_NO_WAKEUP;
}

/* Submit a record reserved with spanprobe_reserve() on `rb`. */
static __always_inline void spanprobe_submit(void *rb, void *rec)
{
    struct spanprobe_stats_t *st = spanprobe_stats_cpu();

    if (st)
        st->submitted++;
    bpf_ringbuf_submit(rec, spanprobe_wakeup_flags(rb, st));
}

/* Fill `n` bytes (a multiple of 4) with random, not all-zero bytes. */
static __always_inline void spanprobe_random_id(u8 *out, int n)
{
    u32 *w = (u32 *)out;
#pragma unroll
    for (int i = 0; i < n / 4; i++) {
        u32 r = bpf_get_prandom_u32();
        w[i] = r ? r : 1;
    }
}

/* Start a new trace: random trace id, random span id, no parent. */
static __always_inline void spanprobe_new_root(struct span_base *span)
{
    spanprobe_random_id(span->trace_id, 16);
    __builtin_memset(span->parent_span_id, 0, 8);
    spanprobe_random_id(span->span_id, 8);
}

/* Make `span` a child of `parent`, with a random span id of its own. */
static __always_inline void spanprobe_child_of(struct span_base *span, const struct span_parent *parent)
{
    __builtin_memcpy(span->trace_id, parent->trace_id, 16);
    __builtin_memcpy(span->parent_span_id, parent->span_id, 8);
    spanprobe_random_id(span->span_id, 8);
}

/* Make `span` a child of `parent` and let the agent generate its span id. */
static __always_inline void spanprobe_child_of_anon(struct span_base *span,
                                                    const struct span_parent *parent)
{
    __builtin_memcpy(span->trace_id, parent->trace_id, 16);
    __builtin_memcpy(span->parent_span_id, parent->span_id, 8);
    __builtin_memset(span->span_id, 0, 8);
}

/* The span context of `span` for its children. */
static __always_inline void spanprobe_parent_of(struct span_parent *out, const struct span_base *span)
{
    __builtin_memcpy(out->trace_id, span->trace_id, 16);
    __builtin_memcpy(out->span_id, span->span_id, 8);
}

static __always_inline int spanprobe_hexval(u8 c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length of a W3C traceparent: "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>". */
#define SPANPROBE_TRACEPARENT_LEN 55

/*
 * Parse a W3C traceparent string at user address `uptr` into `out`
 * (trace id and the caller's current span id). Returns 0 on success.
 */
static __always_inline int spanprobe_parse_traceparent(const void *uptr, struct span_parent *out)
{
    char tp[SPANPROBE_TRACEPARENT_LEN];
    int hi, lo;

    if (bpf_probe_read_user(tp, sizeof(tp), uptr) < 0)
        return -1;
    if (tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
        return -1;
#pragma unroll
    for (int i = 0; i < 16; i++) {
        hi = spanprobe_hexval(tp[3 + 2 * i]);
        lo = spanprobe_hexval(tp[4 + 2 * i]);
        if (hi < 0 || lo < 0)
            return -1;
        out->trace_id[i] = (hi << 4) | lo;
    }
#pragma unroll
    for (int i = 0; i < 8; i++) {
        hi = spanprobe_hexval(tp[36 + 2 * i]);
        lo = spanprobe_hexval(tp[37 + 2 * i]);
        if (hi < 0 || lo < 0)
            return -1;
        out->span_id[i] = (hi << 4) | lo;
    }
    return 0;
}

#endif /* SPANPROBE_BPF_H */
