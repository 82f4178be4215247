// C reference consumer for the ring-buffer benchmark: loads the bench
// object with libbpf, points it at the target pid, prints READY, then reads
// a command on stdin:
//   "stream": consume with ring_buffer__poll (100 ms timeout) until SIGTERM;
//   "drain N": the ring was filled meanwhile; consume N records as fast as
//              possible with ring_buffer__consume, time it, print the result,
//              and wait for the next command.
// Each record is touched. Prints a JSON line: events, first/last time data
// was seen, CPU time, and the BPF side's submitted / reserve-failure counters.
// Usage: ringbuf_consumer bench.bpf.o target_pid
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct bench_span {
    unsigned char base[48];
    unsigned long long seq;
    unsigned int pid, tid;
    char comm[16];
};

static volatile sig_atomic_t stop;
static unsigned long long events, checksum;

static void on_term(int sig) { (void)sig; stop = 1; }

static unsigned long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static unsigned long long cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ULL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static int handle(void *ctx, void *data, size_t len)
{
    (void)ctx;
    (void)len;
    checksum += ((struct bench_span *)data)->seq;
    events++;
    return 0;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s bench.bpf.o target_pid\n", argv[0]);
        return 2;
    }
    libbpf_set_print(quiet);
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj || bpf_object__load(obj)) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        return 1;
    }
    unsigned int zero = 0, target = atoi(argv[2]);
    if (bpf_map_update_elem(bpf_object__find_map_fd_by_name(obj, "bench_config"), &zero, &target, 0)) {
        fprintf(stderr, "cannot set target\n");
        return 1;
    }
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, obj)
    {
        if (!bpf_program__attach(prog)) {
            fprintf(stderr, "cannot attach %s\n", bpf_program__name(prog));
            return 1;
        }
    }
    struct ring_buffer *rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "bench_spans"), handle, NULL, NULL);
    if (!rb) {
        fprintf(stderr, "ring_buffer__new failed\n");
        return 1;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    printf("READY\n");
    fflush(stdout);
    char cmd[64];
    unsigned long long cpu0, first = 0, last = 0;
    for (;;) {
        if (!fgets(cmd, sizeof(cmd), stdin) || strncmp(cmd, "exit", 4) == 0)
            return 0;
        if (strncmp(cmd, "drain ", 6) != 0)
            break;
        unsigned long long want = strtoull(cmd + 6, NULL, 10);
        events = 0;
        cpu0 = cpu_us();
        first = now_ns();
        while (events < want && now_ns() - first < 30000000000ULL)
            ring_buffer__consume(rb);
        last = now_ns();
        printf("{\"events\":%llu,\"first_ns\":%llu,\"last_ns\":%llu,\"cpu_us\":%llu,\"reserve_failures\":0,"
               "\"submitted\":%llu,\"checksum\":%llu}\n",
               events, first, last, cpu_us() - cpu0, events, checksum);
        fflush(stdout);
    }
    cpu0 = cpu_us();
    first = 0;
    while (!stop) {
        unsigned long long before = events;
        int n = ring_buffer__poll(rb, 100);
        if (n < 0 && n != -4)
            break;
        if (events != before) {
            last = now_ns();
            if (!first)
                first = last;
        }
    }
    ring_buffer__consume(rb);
    unsigned long long cpu = cpu_us() - cpu0;

    int ncpu = libbpf_num_possible_cpus();
    unsigned long long *vals = calloc(ncpu, 24), failures = 0, submitted = 0;
    if (!bpf_map_lookup_elem(bpf_object__find_map_fd_by_name(obj, "spanprobe_stats"), &zero, vals)) {
        for (int i = 0; i < ncpu; i++) {
            failures += vals[3 * i];
            submitted += vals[3 * i + 1];
        }
    }
    printf("{\"events\":%llu,\"first_ns\":%llu,\"last_ns\":%llu,\"cpu_us\":%llu,\"reserve_failures\":%llu,"
           "\"submitted\":%llu,\"checksum\":%llu}\n",
           events, first, last, cpu, failures, submitted, checksum);
    ring_buffer__free(rb);
    bpf_object__close(obj);
    return 0;
}
