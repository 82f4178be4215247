# syntax=docker/dockerfile:1.7
#
# spanprobe: the agent compiled with its permission set baked in (run
# bpftrace, FFI for the ring-buffer source's libbpf and libc, read
# /etc/spanprobe + /targets + /var/lib/spanprobe, write /var/lib/spanprobe,
# any host but the cloud metadata addresses unless narrowed), the bundled
# probes and their prebuilt CO-RE objects embedded, on a distroless glibc base
# with bpftrace, libbpf and exactly the shared libraries they load. No shell,
# no package manager, no clang. See docs/deploy.md and docs/permissions.md.
#
#   docker build -t spanprobe .
#   docker build --build-arg SPANPROBE_ALLOW_NET=otel-collector:4318 -t spanprobe .   # narrow the network
#   docker build --build-arg SPANPROBE_PROFILE=bpftrace -t spanprobe .   # no FFI, no ring-buffer probes
#
# Run it with CAP_BPF + CAP_PERFMON only, never --privileged (measured in
# tests/permissions_caps_test.ts and, for ring-buffer probes, tests/ringbuf_caps_test.ts):
#
#   docker run --cap-drop ALL --cap-add BPF --cap-add PERFMON --security-opt no-new-privileges \
#     --read-only --tmpfs /tmp -v /sys/kernel/tracing:/sys/kernel/tracing:ro \
#     -v ./config.yaml:/etc/spanprobe/config.yaml:ro -v ./bin:/targets:ro spanprobe
#
# CI's `image` job (.github/workflows/ci.yml) builds this image and runs the
# compose demo on the runner's Docker. Where the repository is developed there
# is no Docker engine: there the runtime layer is tested without Docker by
# tests/compile_rootfs_test.ts (the same staging script builds a chroot in
# which the agent runs a bpftrace and a ring-buffer probe end to end).

ARG DENO_VERSION=2.9.6

# --- 1. compile: the official Deno image (Debian 12, glibc: deno compile targets glibc only) ---
FROM denoland/deno:debian-${DENO_VERSION} AS build
# clang, bpftool and libbpf's headers compile probes/*.bpf.c into CO-RE objects (against the build
# host's /sys/kernel/btf/vmlinux; CO-RE relocates them on the kernel where they run)
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang llvm bpftool libbpf-dev libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY deno.json deno.lock main.ts ./
COPY lib/ lib/
COPY probes/ probes/
COPY scripts/compile.ts scripts/compile.ts
RUN deno install --frozen --entrypoint main.ts scripts/compile.ts
# the flags come from lib/permissions.ts via scripts/compile.ts (deno task compile), which also
# builds dist/bpf/ (the embedded objects); this downloads denort from dl.deno.land, or set
# DENORT_BIN (see docs/deploy.md)
ARG SPANPROBE_ALLOW_NET=
ARG SPANPROBE_PROFILE=full
RUN SPANPROBE_ALLOW_NET="${SPANPROBE_ALLOW_NET}" deno run -A scripts/compile.ts --profile "${SPANPROBE_PROFILE}" \
      --output /out/spanprobe \
 && /out/spanprobe --version

# --- 2. bpftrace and its libraries, from the Debian release the distroless base is built from ---
FROM debian:12-slim AS runtime-libs
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends bpftrace libbpf1 gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY deploy/image/stage-runtime.sh deploy/image/nosh.c /stage/
COPY --from=build /out/spanprobe /stage/spanprobe
# bpftrace (LLVM/clang 14, libbcc_bpf, libbpf, libdw, libelf, ...) and exactly what it loads; glibc,
# libgcc_s and libstdc++ come with the base image. libbpf.so.1 (the ring-buffer source dlopens it)
# is part of bpftrace's closure.
RUN sh /stage/stage-runtime.sh /rootfs --skip-base /usr/bin/bpftrace /usr/lib/*-linux-gnu/libbpf.so.1 \
 # the compiled agent must need nothing beyond the base (glibc): fail the build otherwise
 && ! sh /stage/stage-runtime.sh /tmp/agent-libs --skip-base /stage/spanprobe | grep -v '^/stage/spanprobe$' \
 # /bin/sh is a stub that runs nothing: bpftrace 0.17 popen()s through /bin/sh when a script
 # needs its C parser and crashes (SIGSEGV) when there is none; see deploy/image/nosh.c
 && mkdir -p /rootfs-bin && gcc -static -Os -s -o /rootfs-bin/sh /stage/nosh.c \
 && mkdir -p /rootfs-dirs/etc/spanprobe /rootfs-dirs/targets /rootfs-dirs/var/lib/spanprobe

# --- 3. runtime: distroless glibc (uid 0: bpftrace 0.17 refuses any other uid) ---
FROM gcr.io/distroless/cc-debian12 AS runtime
COPY --from=runtime-libs /rootfs/usr/ /usr/
COPY --from=runtime-libs /rootfs-bin/sh /bin/sh
COPY --from=runtime-libs /rootfs-dirs/ /
COPY --from=build /out/spanprobe /usr/bin/spanprobe
USER 0:0
ENTRYPOINT ["/usr/bin/spanprobe"]
CMD ["run", "--config", "/etc/spanprobe/config.yaml"]
