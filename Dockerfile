# syntax=docker/dockerfile:1.7
#
# spanprobe: the agent compiled with its permission set baked in (bpftrace
# only, no FFI, read /etc/spanprobe + /targets + /var/lib/spanprobe, write
# /var/lib/spanprobe, any host but the cloud metadata addresses unless
# narrowed), on a distroless glibc base with bpftrace, libbpf and exactly the
# shared libraries they load. No shell, no package manager. See docs/deploy.md.
#
#   docker build -t spanprobe .
#   docker build --build-arg SPANPROBE_ALLOW_NET=otel-collector:4318 -t spanprobe .   # narrow the network
#
# Run it with CAP_BPF + CAP_PERFMON only, never --privileged (measured in
# tests/permissions_caps_test.ts):
#
#   docker run --cap-drop ALL --cap-add BPF --cap-add PERFMON --security-opt no-new-privileges \
#     --read-only --tmpfs /tmp -v /sys/kernel/tracing:/sys/kernel/tracing:ro \
#     -v ./config.yaml:/etc/spanprobe/config.yaml:ro -v ./bin:/targets:ro spanprobe
#
# This image is not built by CI (no Docker engine there). Its runtime layer is
# tested without Docker by tests/compile_rootfs_test.ts: the same staging
# script builds a chroot in which the agent runs end to end.

ARG DENO_VERSION=2.9.6

# --- 1. compile: the official Deno image (Debian 12, glibc: deno compile targets glibc only) ---
FROM denoland/deno:debian-${DENO_VERSION} AS build
WORKDIR /src
COPY deno.json deno.lock main.ts ./
COPY lib/ lib/
COPY probes/ probes/
COPY scripts/compile.ts scripts/compile.ts
RUN deno install --frozen --entrypoint main.ts
# the flags come from lib/permissions.ts via scripts/compile.ts (deno task compile); this
# downloads denort from dl.deno.land, or set DENORT_BIN (see docs/deploy.md)
ARG SPANPROBE_ALLOW_NET=
RUN SPANPROBE_ALLOW_NET="${SPANPROBE_ALLOW_NET}" deno run -A scripts/compile.ts --output /out/spanprobe \
 && /out/spanprobe --version

# --- 2. bpftrace and its libraries, from the Debian release the distroless base is built from ---
FROM debian:12-slim AS runtime-libs
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends bpftrace libbpf1 gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY deploy/image/stage-runtime.sh deploy/image/nosh.c /stage/
COPY --from=build /out/spanprobe /stage/spanprobe
# bpftrace (LLVM/clang 14, libbcc_bpf, libbpf, libdw, libelf, ...) and exactly what it loads; glibc,
# libgcc_s and libstdc++ come with the base image
RUN sh /stage/stage-runtime.sh /rootfs --skip-base /usr/bin/bpftrace \
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
