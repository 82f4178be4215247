#!/usr/bin/env bash
# The full check and test suite, from a fresh machine (as root: the eBPF tests
# run real bpftrace and libbpf).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
deno task check
deno task test
