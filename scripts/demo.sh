#!/usr/bin/env bash
# The demo, from a fresh machine: install what is missing, then trace a small
# USDT program and print its requests as spans on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec deno task demo "$@"
