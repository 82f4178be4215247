#!/bin/sh
# A stand-in for bpftrace in tests (spanprobe run --bpftrace THIS): it says
# "probes attached" the way bpftrace does when __BPFTRACE_NOTIFY_PROBES_ATTACHED
# is set, then prints the file named by SPANPROBE_FAKE_OUTPUT as its output
# and exits 0. Its arguments (the program) are ignored. This replays recorded
# or generated bpftrace output through the real agent, process path included.
echo "__BPFTRACE_NOTIFY_PROBES_ATTACHED" >&2
exec cat "${SPANPROBE_FAKE_OUTPUT:?set SPANPROBE_FAKE_OUTPUT}"
