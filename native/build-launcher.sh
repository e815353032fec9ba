#!/bin/sh
# Builds the task launcher (src/task_launcher.c) and the worker watchdog
# (src/watchdog.c) into build/Release/.
#
# The launcher runs once per task, so its start-up cost is paid at every
# launch. A static musl build starts fastest: no dynamic loader and no
# CPU-feature probing at exec (glibc's probing runs cpuid, which is slow
# under virtualization). Debian: apt-get install musl-tools. Without musl
# it tries a static glibc build, then a plain one; each works the same.
set -eu
cd "$(dirname "$0")"
mkdir -p build/Release
flags="-O2 -Wall -Wextra"
build() {
  name=$1
  out=build/Release/$name
  src=src/$2
  if command -v musl-gcc >/dev/null 2>&1 && musl-gcc $flags -static -o "$out" "$src"; then
    echo "$name: static, musl"
  elif ${CC:-cc} $flags -static -o "$out" "$src" 2>/dev/null; then
    echo "$name: static, glibc (install musl-tools for a faster start)"
  else
    ${CC:-cc} $flags -o "$out" "$src"
    echo "$name: dynamic (install musl-tools for a faster start)"
  fi
}
build task-launcher task_launcher.c
build bistro-watchdog watchdog.c
