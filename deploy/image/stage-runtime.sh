#!/bin/sh
# Copies executables and exactly the shared libraries they load (their ldd
# closure) into a staging root, for a distroless final image (no shell, no
# package manager). Used by the Dockerfile's runtime-libs stage; the test
# tests/compile_rootfs_test.ts runs the agent in a chroot built by it.
#
#   stage-runtime.sh DEST [--skip-base] EXECUTABLE_OR_LIBRARY...
#
# Libraries keep their soname (symlinks are resolved to their content) in
# their canonical directory (/usr/lib/<multiarch>, merged-/usr). With
# --skip-base, what gcr.io/distroless/cc-debian12 already ships (glibc,
# libgcc_s, libstdc++, the dynamic loader) is left out: the base provides the
# same Debian 12 builds. Prints every file it staged.
set -eu

dest=$1
shift
skip_base=no
if [ "${1:-}" = "--skip-base" ]; then
  skip_base=yes
  shift
fi

is_base() {
  case "$1" in
    ld-linux*.so.* | libc.so.* | libm.so.* | libdl.so.* | librt.so.* | libpthread.so.* | \
      libresolv.so.* | libgcc_s.so.* | libstdc++.so.*) return 0 ;;
  esac
  return 1
}

stage() {
  src=$1
  name=$(basename "$src")
  case "$src" in
    # the dynamic loader: its path is written into every executable
    /lib64/* | /lib/ld-*) dir=$(dirname "$src") ;;
    *) dir=$(dirname "$(readlink -f "$src")") ;;
  esac
  # keep the name the loader asks for (the soname), not the versioned file
  target="$dest$dir/$name"
  [ -e "$target" ] && return 0
  mkdir -p "$dest$dir"
  cp -L "$src" "$target"
  echo "$dir/$name"
}

for f in "$@"; do
  stage "$f"
  # "libx.so.1 => /usr/lib/.../libx.so.1 (0x...)" and the loader "/lib64/ld-linux-x86-64.so.2 (0x...)"
  ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
    if [ "$skip_base" = yes ] && is_base "$(basename "$lib")"; then continue; fi
    stage "$lib"
  done
done
