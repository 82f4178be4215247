/*
 * /bin/sh of the spanprobe image: NOT a shell. It runs nothing and exits 127
 * ("command not found"), silently.
 *
 * Why it exists: bpftrace 0.17 asks clang for its system include directories
 * through popen("clang-14 -Wp,-v ... /dev/null"), i.e. /bin/sh -c, whenever a
 * script needs its C parser (any cast such as (int64)arg3, or a struct). With
 * no /bin/sh at all popen fails and bpftrace dereferences NULL (SIGSEGV,
 * measured in a chroot built like the image). With this stub popen succeeds,
 * reads nothing and bpftrace carries on without extra include paths, exactly
 * as on a host without clang-14. Built static so it needs no library.
 */
int main(void) {
  return 127;
}
