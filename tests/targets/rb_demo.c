// rb_demo: a demo "service" for spanprobe's joined user+kernel trace.
//
// Handles N requests. Each request gets a W3C trace context (random trace
// id and span id); the program fires USDT probes carrying it:
//   rb_demo:request_start(const char *traceparent, const char *name)
//   rb_demo:request_end(const char *traceparent)
// and in between does some kernel work (open/read/close a file, write to
// /dev/null, a short sleep), which the BPF side turns into child spans.
//
// Usage: rb_demo [count] [sleep_us] [wait_for_stdin]
// Prints one line per request: "<traceparent> <name>".
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

static void random_hex(char *out, int bytes)
{
    unsigned char buf[16];
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, buf, bytes) != bytes) {
        perror("urandom");
        exit(1);
    }
    close(fd);
    buf[0] |= 1; /* never all zero */
    for (int i = 0; i < bytes; i++)
        sprintf(out + 2 * i, "%02x", buf[i]);
}

static void work(long sleep_us)
{
    char buf[256];
    int fd = open("/etc/hostname", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, buf, sizeof(buf)) < 0)
            perror("read");
        close(fd);
    }
    fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "hello", 5) < 0)
            perror("write");
        close(fd);
    }
    /* A failing call, to show errno decoding. */
    if (open("/nonexistent/rb_demo", O_RDONLY) >= 0)
        abort();
    struct timespec ts = { .tv_sec = sleep_us / 1000000, .tv_nsec = (sleep_us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : 3;
    long sleep_us = argc > 2 ? atol(argv[2]) : 2000;
    char traceparent[56], trace_id[33], span_id[17], name[32];

    if (argc > 3) {
        /* Wait for a line on stdin, so the tracer can attach first. */
        char line[16];
        if (!fgets(line, sizeof(line), stdin))
            return 1;
    }
    for (int i = 0; i < count; i++) {
        random_hex(trace_id, 16);
        random_hex(span_id, 8);
        snprintf(traceparent, sizeof(traceparent), "00-%s-%s-01", trace_id, span_id);
        snprintf(name, sizeof(name), "request-%d", i);
        DTRACE_PROBE2(rb_demo, request_start, traceparent, name);
        work(sleep_us);
        DTRACE_PROBE1(rb_demo, request_end, traceparent);
        printf("%s %s\n", traceparent, name);
        fflush(stdout);
    }
    return 0;
}
