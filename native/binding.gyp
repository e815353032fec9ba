{
  "targets": [
    {
      "target_name": "bistro_native",
      "sources": ["src/pipes.c", "src/spawn.c", "src/spawn_thread.c", "src/lock.c", "src/clock.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
