{
  "targets": [
    {
      "target_name": "bistro_native",
      "sources": ["src/pipes.c", "src/spawn.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "task-launcher",
      "type": "executable",
      "sources": ["src/task_launcher.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
