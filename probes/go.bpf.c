// SPDX-License-Identifier: GPL-2.0
/*
 * go: spans from an unmodified Go program (Go >= 1.17, amd64, register ABI).
 *
 * Entry uprobes only (uretprobes crash Go programs: the goroutine stack
 * moves). Each traced function gets a program at its entry and the same
 * "return" program at every RET instruction, found by the agent by decoding
 * the function's machine code (lib/sources/go/x86_length.ts):
 *
 *   net/http.serverHandler.ServeHTTP(sh, rw ResponseWriter, req *Request)
 *       entry: RDI = req, RBX/RCX = rw (itab, data)      return: the status, from HTTP/1's
 *       *response or HTTP/2's *http2responseWriter (told apart by the itab's hash)
 *   net/http.(*Transport).RoundTrip(t, req *Request) (*Response, error)
 *       entry: RBX = req                                 return: RAX = *Response, RBX = error's itab
 *   database/sql.(*DB).queryDC(db, ctx, txctx, dc, release, query string, args)
 *       entry: R10/R11 = query                           return: RBX = error's itab
 *   database/sql.(*DB).execDC(db, ctx, dc, release, query string, args)
 *       entry: R8/R9 = query                             return: RCX = error's itab
 *
 *   runtime.newproc1(fn, callergp *g, callerpc) *g          (no span: context)
 *       entry: RBX = the creating goroutine              return: RAX = the new goroutine
 *
 * A call is keyed by (process, goroutine id): the goroutine is `g` in R14
 * and its id is read at the DWARF offset of runtime.g.goid. Go may run a
 * function's entry twice (after growing the stack, the prologue jumps back
 * to the entry), so an entry that finds its own call already recorded
 * (same argument) keeps the first one. Client and query spans become
 * children of the server span open on the same goroutine, or of the one
 * their goroutine inherited: a goroutine created while its creator serves a
 * request (or itself inherited one) inherits that request's span. An incoming
 * `traceparent` header (read from the request's header map, Go < 1.24 map
 * layout) makes the server span join that trace.
 *
 * Struct offsets come from the agent (map go_offsets), read from the
 * target's DWARF or the committed table (lib/sources/go/offsets_table.json).
 * Config: go.yaml.
 */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
/*
 * Wake the agent at most every 10 ms per CPU (it polls every 10 ms while
 * spans flow anyway): a wakeup per millisecond cost ~0.9 µs per request in
 * the traced program (measured: bench/go_bench.ts).
 */
#define SPANPROBE_WAKEUP_INTERVAL_NS 10000000ULL
#include "spanprobe.bpf.h"

#define KIND_SERVER 1
#define KIND_CLIENT 2
#define KIND_QUERY 3
#define KIND_EXEC 4

#define FLAG_ERROR 1
#define FLAG_REMOTE_PARENT 2
#define FLAG_NO_STATUS 4 /* the response writer is neither HTTP/1's *response nor HTTP/2's: status unknown */
#define FLAG_H2 8        /* aux is HTTP/2's *http2responseWriterState */

#define METHOD_LEN 16
#define TEXT_LEN 256
#define HOST_LEN 64
#define UA_LEN 128

/* One span (every kind); strings are cut to their buffer, their full Go length is kept. */
struct go_span {
    struct span_base base; /* 48 bytes: ids, start, duration */
    u64 goid;
    u32 pid;
    u16 status;
    u8 kind;
    u8 flags;
    u16 proto; /* major << 8 | minor */
    u16 method_len;
    u32 text_len; /* path or query text */
    u16 host_len;
    u16 ua_len;
    u64 arg; /* the call's key argument (request or query pointer): spots a re-run entry */
    u64 aux; /* server: the *response (rw's data word), read at the return */
    char method[METHOD_LEN];
    char text[TEXT_LEN];
    char host[HOST_LEN];
    char ua[UA_LEN];
};

SPANPROBE_RINGBUF(go_spans, struct go_span, 4 * 1024 * 1024);

/* Field offsets in the target (set by the agent before attaching). */
struct go_offsets {
    u32 g_goid;
    u32 req_method;
    u32 req_url;
    u32 req_proto_major;
    u32 req_proto_minor;
    u32 req_header;
    u32 req_host;
    u32 url_path;
    u32 url_host;
    u32 response_status;      /* net/http.response.status (server side) */
    u32 resp_status_code;     /* net/http.Response.StatusCode (client side) */
    u32 hmap_b;
    u32 hmap_buckets;
    u32 bucket_keys;
    u32 bucket_elems;
    u32 bucket_size;
    u32 headers_readable;     /* 1 when the header map layout above is known */
    u32 req_bytes;            /* bytes of net/http.Request to read (up to its last field used) */
    u32 url_bytes;            /* the same for net/url.URL */
    u32 response_itab_hash;   /* itab.hash of (*response, ResponseWriter); 0: not checked */
    u32 h2_writer_rws;        /* net/http.http2responseWriter.rws */
    u32 h2_state_status;      /* net/http.http2responseWriterState.status */
    u32 h2_response_itab_hash; /* itab.hash of (*http2responseWriter, ResponseWriter); 0: HTTP/2 status not read */
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct go_offsets);
} go_offsets SEC(".maps");

struct call_key {
    u64 goid;
    u32 pid;
    u32 kind; /* KIND_SERVER, KIND_CLIENT or KIND_QUERY (exec shares it) */
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct call_key);
    __type(value, struct go_span);
} go_calls SEC(".maps");

/* Request context inherited by goroutines created while serving a request (key kind 0). */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct call_key);
    __type(value, struct span_parent);
} go_inherited SEC(".maps");

/* runtime.newproc1 in flight per thread (it runs on the system stack: the thread is the key). */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, u64);
    __type(value, struct span_parent);
} go_spawning SEC(".maps");

/* A zeroed record to start a call from (too big for the BPF stack). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, u32);
    __type(value, struct go_span);
} go_scratch SEC(".maps");

/* The first bytes of a net/http.Request (or url.URL), read in one go: fewer user-memory reads. */
#define STRUCT_BYTES 256

struct struct_buf {
    u8 b[STRUCT_BYTES];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, u32);
    __type(value, struct struct_buf);
} go_structs SEC(".maps");

/* The 8 bytes at `off` of a struct read into `b` (0 when out of range). */
static __always_inline u64 buf_u64(const u8 *b, u32 off)
{
    off &= STRUCT_BYTES - 1;
    if (off > STRUCT_BYTES - 8)
        return 0;
    return *(const u64 *)(b + off);
}

/* Read `n` (≤ STRUCT_BYTES) bytes at user address `addr` into slot `slot` of go_structs. */
static __always_inline u8 *read_struct(u64 addr, u32 n, u32 slot)
{
    struct struct_buf *buf = bpf_map_lookup_elem(&go_structs, &slot);
    if (!buf)
        return NULL;
    n &= 2 * STRUCT_BYTES - 1;
    if (n == 0 || n > STRUCT_BYTES)
        return NULL;
    if (bpf_probe_read_user(buf->b, n, (void *)addr) < 0)
        return NULL;
    return buf->b;
}

/* Copy the Go string whose header (ptr, len) is at `off` of struct bytes `sb` into buf. */
#define READ_GO_STRING_IN(buf, size, sb, off)                                                      \
    ({                                                                                             \
        u64 __p = buf_u64(sb, off);                                                                \
        u64 __l = buf_u64(sb, (off) + 8);                                                          \
        if (__l > 0xffffffffULL)                                                                   \
            __l = 0xffffffffULL;                                                                   \
        __p ? READ_GO_STRING(buf, size, __p, __l) : 0;                                             \
    })

/* Counters the agent reads: [0] entries seen again (stack growth), [1] returns without an entry. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, u32);
    __type(value, u64);
} go_counts SEC(".maps");

static __always_inline void count(u32 i)
{
    u64 *v = bpf_map_lookup_elem(&go_counts, &i);
    if (v)
        *v += 1;
}

static __always_inline struct go_offsets *offsets(void)
{
    u32 zero = 0;
    return bpf_map_lookup_elem(&go_offsets, &zero);
}

static __always_inline u64 read_u64(u64 addr)
{
    u64 v = 0;
    bpf_probe_read_user(&v, sizeof(v), (void *)addr);
    return v;
}

static __always_inline int call_key_of(struct pt_regs *ctx, struct go_offsets *off, struct call_key *key, u32 kind)
{
    u64 g = ctx->r14;
    if (!g)
        return -1;
    key->goid = read_u64(g + off->g_goid);
    key->pid = bpf_get_current_pid_tgid() >> 32;
    key->kind = kind;
    return 0;
}

/* Copy Go string (ptr, len) into buf (at most size bytes); returns the full length. */
#define READ_GO_STRING(buf, size, ptr, len)                                                        \
    ({                                                                                             \
        u64 __n = (len);                                                                           \
        if (__n > (size))                                                                          \
            __n = (size);                                                                          \
        if (__n > 0)                                                                               \
            bpf_probe_read_user((buf), __n & ((size) * 2 - 1), (void *)(ptr));                     \
        (len);                                                                                     \
    })

/* Copy the Go string whose header is at `hdr` into buf; returns the full length (capped to 0xffffffff). */
#define READ_GO_STRING_AT(buf, size, hdr)                                                          \
    ({                                                                                             \
        u64 __sp = read_u64(hdr);                                                                  \
        u64 __sl = read_u64((hdr) + 8);                                                            \
        if (__sl > 0xffffffffULL)                                                                  \
            __sl = 0xffffffffULL;                                                                  \
        __sp ? READ_GO_STRING(buf, size, __sp, __sl) : 0;                                          \
    })

/* Start recording a call; NULL when this entry re-runs an already recorded call. */
static __always_inline struct go_span *begin_call(struct call_key *key, u64 arg, u8 kind)
{
    u32 zero = 0;
    struct go_span *rec = bpf_map_lookup_elem(&go_calls, key);
    if (rec && rec->arg == arg) {
        count(0); /* the same call's entry again (stack growth): keep the first */
        return NULL;
    }
    struct go_span *blank = bpf_map_lookup_elem(&go_scratch, &zero);
    if (!blank)
        return NULL;
    if (bpf_map_update_elem(&go_calls, key, blank, BPF_ANY) < 0)
        return NULL;
    rec = bpf_map_lookup_elem(&go_calls, key);
    if (!rec)
        return NULL;
    rec->arg = arg;
    rec->kind = kind;
    rec->goid = key->goid;
    rec->pid = key->pid;
    rec->base.span_monotonic_timestamp_ns = bpf_ktime_get_ns();
    return rec;
}

static __always_inline void end_call(struct call_key *key, struct go_span *rec)
{
    rec->base.span_duration_ns = bpf_ktime_get_ns() - rec->base.span_monotonic_timestamp_ns;
    struct spanprobe_stats_t *st = spanprobe_stats_cpu();
    if (bpf_ringbuf_output(&go_spans, rec, sizeof(*rec), spanprobe_wakeup_flags(&go_spans, st)) < 0) {
        if (st)
            st->reserve_failures++;
    } else if (st) {
        st->submitted++;
    }
    bpf_map_delete_elem(&go_calls, key);
}

static __always_inline int key_is(const char *have, const char *want, int n)
{
    for (int i = 0; i < n; i++)
        if (have[i] != want[i])
            return 0;
    return 1;
}

/*
/*
 * Look through the request's header map (map[string][]string, Go's bucket
 * layout before 1.24) for Traceparent and User-Agent: the first 8 buckets,
 * no overflow buckets (a header map of up to 8 keys has one bucket).
 */
static __always_inline u64 read_headers(struct go_offsets *off, u64 hmap, struct go_span *rec)
{
    char name[12];
    u64 buckets, traceparent = 0;
    u8 bshift = 0;

    bpf_probe_read_user(&bshift, 1, (void *)(hmap + off->hmap_b));
    buckets = read_u64(hmap + off->hmap_buckets);
    if (!buckets)
        return 0;
    u32 nbuckets = bshift > 3 ? 8 : 1u << bshift;
    for (u32 bi = 0; bi < 8; bi++) {
        if (bi >= nbuckets)
            break;
        u64 bucket = buckets + (u64)bi * off->bucket_size;
        u8 tophash[8];
        if (bpf_probe_read_user(tophash, 8, (void *)bucket) < 0)
            break;
        for (u32 i = 0; i < 8; i++) {
            if (tophash[i] < 5) /* empty or evacuated */
                continue;
            u64 khdr = bucket + off->bucket_keys + i * 16;
            u64 kptr = read_u64(khdr);
            u64 klen = read_u64(khdr + 8);
            if (klen != 11 && klen != 10)
                continue;
            /* constant sizes: the verifier wants a bounded length */
            if (klen == 11 ? bpf_probe_read_user(name, 11, (void *)kptr) < 0
                           : bpf_probe_read_user(name, 10, (void *)kptr) < 0)
                continue;
            u64 vhdr = bucket + off->bucket_elems + i * 24; /* []string: ptr, len, cap */
            u64 vptr = read_u64(vhdr);
            u64 vlen = read_u64(vhdr + 8);
            if (!vptr || vlen == 0)
                continue;
            if (klen == 11 && key_is(name, "Traceparent", 11)) {
                u64 sptr = read_u64(vptr);
                u64 slen = read_u64(vptr + 8);
                if (slen == SPANPROBE_TRACEPARENT_LEN)
                    traceparent = sptr;
            } else if (klen == 10 && key_is(name, "User-Agent", 10)) {
                rec->ua_len = READ_GO_STRING_AT(rec->ua, UA_LEN, vptr);
            }
        }
    }
    return traceparent;
}

/*
 * The request context of goroutine (`goid`, `pid`): the server span open on
 * it, else the one it inherited from its creator. Returns 0 when found.
 */
static __always_inline int request_context(u64 goid, u32 pid, struct span_parent *out)
{
    struct call_key sk = { .goid = goid, .pid = pid, .kind = KIND_SERVER };
    struct go_span *server = bpf_map_lookup_elem(&go_calls, &sk);
    if (server) {
        spanprobe_parent_of(out, &server->base);
        return 0;
    }
    sk.kind = 0;
    struct span_parent *inherited = bpf_map_lookup_elem(&go_inherited, &sk);
    if (!inherited)
        return -1;
    *out = *inherited;
    return 0;
}

/* Make `rec` a child of its goroutine's request, or a new root. */
static __always_inline void parent_from_request(struct go_span *rec, struct call_key *key)
{
    struct span_parent parent;
    if (!request_context(key->goid, key->pid, &parent))
        spanprobe_child_of(&rec->base, &parent);
    else
        spanprobe_new_root(&rec->base);
}

SEC("uprobe")
int go_newproc_entry(struct pt_regs *ctx)
{
    struct go_offsets *off = offsets();
    struct span_parent parent;
    u64 creator = ctx->bx;

    if (!off || !creator)
        return 0;
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (request_context(read_u64(creator + off->g_goid), pid, &parent))
        return 0; /* not inside a request: nothing to hand down */
    u64 tid = bpf_get_current_pid_tgid();
    bpf_map_update_elem(&go_spawning, &tid, &parent, BPF_ANY);
    return 0;
}

SEC("uprobe")
int go_newproc_return(struct pt_regs *ctx)
{
    struct go_offsets *off = offsets();
    u64 tid = bpf_get_current_pid_tgid();
    struct span_parent *parent = bpf_map_lookup_elem(&go_spawning, &tid);

    if (!off || !parent)
        return 0;
    u64 newg = ctx->ax;
    if (newg) {
        struct call_key key = { .goid = read_u64(newg + off->g_goid), .pid = tid >> 32, .kind = 0 };
        bpf_map_update_elem(&go_inherited, &key, parent, BPF_ANY);
    }
    bpf_map_delete_elem(&go_spawning, &tid);
    return 0;
}

SEC("uprobe")
int go_server_entry(struct pt_regs *ctx)
{
    struct go_offsets *off = offsets();
    struct call_key key = {};
    struct span_parent remote = {};

    if (!off || call_key_of(ctx, off, &key, KIND_SERVER))
        return 0;
    u64 req = ctx->di;
    struct go_span *rec = begin_call(&key, req, KIND_SERVER);
    if (!rec)
        return 0;
    u8 *rb = read_struct(req, off->req_bytes, 0);
    if (!rb)
        return 0;
    rec->method_len = READ_GO_STRING_IN(rec->method, METHOD_LEN, rb, off->req_method);
    rec->host_len = READ_GO_STRING_IN(rec->host, HOST_LEN, rb, off->req_host);
    u64 major = buf_u64(rb, off->req_proto_major);
    u64 minor = buf_u64(rb, off->req_proto_minor);
    rec->proto = (u16)((major & 0xff) << 8 | (minor & 0xff));
    u64 url = buf_u64(rb, off->req_url);
    u64 hmap = buf_u64(rb, off->req_header);
    u8 *ub = url ? read_struct(url, off->url_bytes, 1) : NULL;
    if (ub)
        rec->text_len = READ_GO_STRING_IN(rec->text, TEXT_LEN, ub, off->url_path);
    u64 traceparent = hmap && off->headers_readable ? read_headers(off, hmap, rec) : 0;
    if (traceparent && !spanprobe_parse_traceparent((void *)traceparent, &remote)) {
        __builtin_memcpy(rec->base.trace_id, remote.trace_id, 16);
        __builtin_memcpy(rec->base.parent_span_id, remote.span_id, 8);
        spanprobe_random_id(rec->base.span_id, 8);
        rec->flags |= FLAG_REMOTE_PARENT;
    } else {
        spanprobe_new_root(&rec->base);
    }
    /*
     * rw's data word is the *response whose status the return reads, if rw's itab says it is
     * one; HTTP/2's *http2responseWriter keeps it in its state (rws).
     */
    rec->aux = ctx->cx;
    if (off->response_itab_hash) {
        u32 hash = 0;
        bpf_probe_read_user(&hash, 4, (void *)(ctx->bx + 16)); /* itab: inter, _type, hash */
        if (off->h2_response_itab_hash && hash == off->h2_response_itab_hash) {
            rec->aux = read_u64(ctx->cx + off->h2_writer_rws);
            rec->flags |= FLAG_H2;
        } else if (hash != off->response_itab_hash) {
            rec->aux = 0;
            rec->flags |= FLAG_NO_STATUS;
        }
    }
    return 0;
}

SEC("uprobe")
int go_server_return(struct pt_regs *ctx)
{
    struct go_offsets *off = offsets();
    struct call_key key = {};

    if (!off || call_key_of(ctx, off, &key, KIND_SERVER))
        return 0;
    struct go_span *rec = bpf_map_lookup_elem(&go_calls, &key);
    if (!rec) {
        count(1);
        return 0;
    }
    u64 resp = rec->aux;
    u64 status = 0;
    if (resp)
        status = read_u64(resp + (rec->flags & FLAG_H2 ? off->h2_state_status : off->response_status));
    rec->status = (u16)status;
    end_call(&key, rec);
    return 0;
}

SEC("uprobe")
int go_client_entry(struct pt_regs *ctx)
{
    struct go_offsets *off = offsets();
    struct call_key key = {};

    if (!off || call_key_of(ctx, off, &key, KIND_CLIENT))
        return 0;
    u64 req = ctx->bx;
    struct go_span *rec = begin_call(&key, req, KIND_CLIENT);
    if (!rec)
        return 0;
    u8 *rb = read_struct(req, off->req_bytes, 0);
    if (!rb)
        return 0;
    rec->method_len = READ_GO_STRING_IN(rec->method, METHOD_LEN, rb, off->req_method);
    u64 url = buf_u64(rb, off->req_url);
    u8 *ub = url ? read_struct(url, off->url_bytes, 1) : NULL;
    if (ub) {
        rec->text_len = READ_GO_STRING_IN(rec->text, TEXT_LEN, ub, off->url_path);
        rec->host_len = READ_GO_STRING_IN(rec->host, HOST_LEN, ub, off->url_host);
    }
    parent_from_request(rec, &key);
    return 0;
}

SEC("uprobe")
int go_client_return(struct pt_regs *ctx)
{
    struct go_offsets *off = offsets();
    struct call_key key = {};

    if (!off || call_key_of(ctx, off, &key, KIND_CLIENT))
        return 0;
    struct go_span *rec = bpf_map_lookup_elem(&go_calls, &key);
    if (!rec) {
        count(1);
        return 0;
    }
    u64 resp = ctx->ax;
    if (ctx->bx)
        rec->flags |= FLAG_ERROR;
    else if (resp)
        rec->status = (u16)read_u64(resp + off->resp_status_code);
    end_call(&key, rec);
    return 0;
}

static __always_inline int db_entry(struct pt_regs *ctx, u64 qptr, u64 qlen, u8 kind)
{
    struct go_offsets *off = offsets();
    struct call_key key = {};

    if (!off || call_key_of(ctx, off, &key, KIND_QUERY))
        return 0;
    struct go_span *rec = begin_call(&key, qptr, kind);
    if (!rec)
        return 0;
    rec->text_len = READ_GO_STRING(rec->text, TEXT_LEN, qptr, qlen > 0xffffffffULL ? 0xffffffffULL : qlen);
    parent_from_request(rec, &key);
    return 0;
}

SEC("uprobe")
int go_query_entry(struct pt_regs *ctx)
{
    return db_entry(ctx, ctx->r10, ctx->r11, KIND_QUERY);
}

SEC("uprobe")
int go_exec_entry(struct pt_regs *ctx)
{
    return db_entry(ctx, ctx->r8, ctx->r9, KIND_EXEC);
}

SEC("uprobe")
int go_db_return(struct pt_regs *ctx)
{
    struct go_offsets *off = offsets();
    struct call_key key = {};

    if (!off || call_key_of(ctx, off, &key, KIND_QUERY))
        return 0;
    struct go_span *rec = bpf_map_lookup_elem(&go_calls, &key);
    if (!rec) {
        count(1);
        return 0;
    }
    /* the error's itab: queryDC returns (*Rows, error), execDC (Result, error) */
    volatile u64 cx = ctx->cx, bx = ctx->bx; /* both read: no computed ctx offset */
    u64 err = rec->kind == KIND_EXEC ? cx : bx;
    if (err)
        rec->flags |= FLAG_ERROR;
    end_call(&key, rec);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
