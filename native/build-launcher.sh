#!/bin/sh
# Builds the task launcher (src/task_launcher.c) into build/Release/.
#
# The launcher runs once per task, so its start-up cost is paid at every
# launch. A static musl build starts fastest: no dynamic loader and no
# CPU-feature probing at exec (glibc's probing runs cpuid, which is slow
# under virtualization). Debian: apt-get install musl-tools. Without musl
# it tries a static glibc build, then a plain one; each works the same.
set -eu
cd "$(dirname "$0")"
mkdir -p build/Release
out=build/Release/task-launcher
flags="-O2 -Wall -Wextra"
if command -v musl-gcc >/dev/null 2>&1 && musl-gcc $flags -static -o "$out" src/task_launcher.c; then
  echo "task-launcher: static, musl"
elif ${CC:-cc} $flags -static -o "$out" src/task_launcher.c 2>/dev/null; then
  echo "task-launcher: static, glibc (install musl-tools for a faster start)"
else
  ${CC:-cc} $flags -o "$out" src/task_launcher.c
  echo "task-launcher: dynamic (install musl-tools for a faster start)"
fi
