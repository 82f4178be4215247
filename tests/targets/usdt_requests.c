// A demo/test target: worker threads serve fake requests and fire USDT probes
//   spanprobe_demo:request_start(id, start_realtime_ns)
//   spanprobe_demo:request_end(id, start_realtime_ns, duration_ns, status)
//   spanprobe_demo:request_error(id, message, at_realtime_ns)
// and write the ground truth (hex id, start ns, duration ns, status, error ns or 0) to a file.
// Some ids contain quotes, backslashes, tabs, newlines, UTF-8 and invalid bytes.
//
// usage: usdt_requests [--requests N] [--threads T] [--rate R] [--error-every K]
//                      [--truth FILE] [--wait-file PATH] [--linger-file PATH]
// --wait-file: start serving once PATH exists; --linger-file: after the last
// request (truth written and closed), stay alive until PATH exists.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

static long n_requests = 20, n_threads = 4, error_every = 5;
static double rate = 200; // requests per second, all threads together
static FILE *truth;
static pthread_mutex_t truth_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t mono_ns) {
  struct timespec ts = {(time_t)(mono_ns / 1000000000ull), (long)(mono_ns % 1000000000ull)};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static void make_id(char *id, size_t cap, long thread, long i) {
  switch (i % 7) {
  case 3: snprintf(id, cap, "q\"%ld\\%ld\tt", thread, i); break;
  case 4: snprintf(id, cap, "nl\n%ld-%ld", thread, i); break;
  case 5: snprintf(id, cap, "caf\xc3\xa9-%ld-%ld", thread, i); break;
  case 6: snprintf(id, cap, "bad\xff\xfe-%ld-%ld", thread, i); break;
  default: snprintf(id, cap, "req-%ld-%ld", thread, i);
  }
}

static void *worker(void *arg) {
  long t = (long)arg;
  long mine = n_requests / n_threads + (t < n_requests % n_threads ? 1 : 0);
  double period_ns = 1e9 * (double)n_threads / rate;
  uint64_t next = now_ns(CLOCK_MONOTONIC);
  unsigned seed = (unsigned)(t * 7919 + 1);
  for (long i = 0; i < mine; i++) {
    sleep_until(next);
    next += (uint64_t)period_ns;
    char id[48];
    make_id(id, sizeof id, t, i);
    long global = i * n_threads + t;
    int failed = error_every > 0 && global % error_every == error_every - 1;
    uint64_t start = now_ns(CLOCK_REALTIME);
    uint64_t mono_start = now_ns(CLOCK_MONOTONIC);
    DTRACE_PROBE2(spanprobe_demo, request_start, id, start);
    // "work": 20-220 µs
    uint64_t work = 20000 + (uint64_t)(rand_r(&seed) % 200000);
    while (now_ns(CLOCK_MONOTONIC) - mono_start < work) {
    }
    uint64_t error_at = 0;
    if (failed) {
      error_at = now_ns(CLOCK_REALTIME);
      DTRACE_PROBE3(spanprobe_demo, request_error, id, "backend said \"no\"", error_at);
    }
    int status = failed ? 503 : 200;
    uint64_t duration = now_ns(CLOCK_MONOTONIC) - mono_start;
    DTRACE_PROBE4(spanprobe_demo, request_end, id, start, duration, status);
    if (truth) {
      pthread_mutex_lock(&truth_lock);
      for (const unsigned char *p = (const unsigned char *)id; *p; p++) fprintf(truth, "%02x", *p);
      fprintf(truth, " %llu %llu %d %llu\n", (unsigned long long)start, (unsigned long long)duration, status,
              (unsigned long long)error_at);
      pthread_mutex_unlock(&truth_lock);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  const char *wait_file = NULL, *linger_file = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--requests")) n_requests = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) n_threads = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--rate")) rate = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--error-every")) error_every = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--truth")) truth = fopen(argv[i + 1], "w");
    else if (!strcmp(argv[i], "--wait-file")) wait_file = argv[i + 1];
    else if (!strcmp(argv[i], "--linger-file")) linger_file = argv[i + 1];
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (n_threads < 1 || rate <= 0) return 2;
  while (wait_file && access(wait_file, F_OK) != 0) usleep(10000);
  pthread_t th[64];
  if (n_threads > 64) n_threads = 64;
  for (long t = 0; t < n_threads; t++) pthread_create(&th[t], NULL, worker, (void *)t);
  for (long t = 0; t < n_threads; t++) pthread_join(th[t], NULL);
  if (truth) fclose(truth);
  while (linger_file && access(linger_file, F_OK) != 0) usleep(10000);
  return 0;
}
