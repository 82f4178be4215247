#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for spanprobe (as root), and
# mounts tracefs. Safe to run again: it installs only what is missing.
set -euo pipefail

DENO_VERSION=2.9.6
APT_PACKAGES=(bpftrace gcc libc6-dev clang llvm libbpf-dev bpftool systemtap-sdt-dev
  python3-flask golang-go nodejs wrk # the http probe's test servers (Flask, Go, Node) and its bench (wrk)
  binutils apache2-utils) # the Go probe: objdump/readelf/nm/objcopy in its tests, ab in its stability test

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v deno >/dev/null 2>&1 || [ "$(deno --version | head -1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
  echo "setup: installing deno $DENO_VERSION from npm" >&2
  npm install -g --silent "deno@$DENO_VERSION" >/dev/null 2>&1
fi

mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
