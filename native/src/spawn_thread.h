/*
 * The launch thread: clones task launchers off the event loop (spawn.c).
 */
#ifndef BISTRO_SPAWN_THREAD_H
#define BISTRO_SPAWN_THREAD_H

#include <node_api.h>

typedef struct spawn_job spawn_job;

struct spawn_job {
  /* On the launch thread: the clone. */
  void (*run)(spawn_job *job);
  /* Back on the event-loop thread, in submission order. */
  void (*done)(napi_env env, spawn_job *job);
  spawn_job *next;
};

/* Queues `job` for the launch thread; 0, or an errno (the job is not queued). */
int spawn_thread_submit(napi_env env, spawn_job *job);

#endif
