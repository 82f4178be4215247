// Ring-buffer benchmark generator: for every line read on stdin, calls
// getppid() `count` times (each fires the bench probe's tracepoint), as fast
// as it can or paced at `rate` calls/s, and prints a JSON line with what it
// did. Exits at end of input.
// Usage: ringbuf_gen count [rate]
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static unsigned long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long long count = argc > 1 ? atoll(argv[1]) : 1000000;
    double rate = argc > 2 ? atof(argv[2]) : 0;
    char line[16];

    while (fgets(line, sizeof(line), stdin)) {
    unsigned long long start = now_ns();
    for (long long i = 0; i < count; i++) {
        if (rate > 0 && (i & 255) == 0) {
            unsigned long long due = start + (unsigned long long)(i * 1e9 / rate);
            while (now_ns() < due)
                ;
        }
        syscall(SYS_getppid);
    }
    unsigned long long end = now_ns();
    printf("{\"events\":%lld,\"ns\":%llu,\"rate\":%.0f,\"ns_per_event\":%.1f}\n", count, end - start,
           count * 1e9 / (end - start), (double)(end - start) / count);
    fflush(stdout);
    }
    return 0;
}
