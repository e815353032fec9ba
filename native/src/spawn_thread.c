/*
 * The launch thread: one thread that clones task launchers, so the event
 * loop never waits for a clone.
 *
 * Why: a clone's wall time on a loaded host is mostly waiting -- for a CPU,
 * for the kernel's cgroup lock that a clone into a cgroup takes (and every
 * other launch on the host with it) -- and on the event-loop thread every
 * microsecond of it delays exits, kills and API requests. Measured on a
 * 2-core host with four workers launching: 600-900 us of loop time per
 * launch, against a few tens of microseconds of the clone's own work.
 *
 * The thread lives as long as the process and never exits: the launcher's
 * parent-death signal fires when the *thread* that cloned it ends, so a
 * launch thread that ended would kill every task. It takes the nice value
 * of the thread that submits (the event loop's, boosted above the tasks)
 * before each clone, since the child inherits it until the launcher takes
 * the tasks' own, and it blocks every signal (the child starts with them
 * blocked; the launcher resets them).
 */
#define _GNU_SOURCE
#include "spawn_thread.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
/* Jobs to run, and jobs run (for the loop), each in submission order. */
static spawn_job *todo_head, *todo_tail, *done_head, *done_tail;
static int started;
/* The one environment (the main thread's) that launches; its loop hears of finished jobs. */
static napi_env owner;
static uv_async_t finished;
static pid_t submitter_tid;
static int in_flight;

static void append(spawn_job **head, spawn_job **tail, spawn_job *job) {
  job->next = NULL;
  if (*tail) (*tail)->next = job;
  else *head = job;
  *tail = job;
}

static void follow_submitter_priority(void) {
  errno = 0;
  int wanted = getpriority(PRIO_PROCESS, (id_t)submitter_tid);
  if (errno != 0) return; /* the submitter is the event loop: it cannot be gone while we run */
  errno = 0;
  int current = getpriority(PRIO_PROCESS, 0);
  /* Raising it needs CAP_SYS_NICE; without, the child starts at this thread's value and the
   * launcher still takes the tasks' own as its first step. */
  if (errno == 0 && current != wanted) setpriority(PRIO_PROCESS, 0, wanted);
}

static void *launch_thread(void *unused) {
  (void)unused;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL);
  for (;;) {
    pthread_mutex_lock(&lock);
    while (!todo_head) pthread_cond_wait(&wake, &lock);
    spawn_job *job = todo_head;
    todo_head = job->next;
    if (!todo_head) todo_tail = NULL;
    pthread_mutex_unlock(&lock);

    follow_submitter_priority();
    job->run(job);

    pthread_mutex_lock(&lock);
    append(&done_head, &done_tail, job);
    pthread_mutex_unlock(&lock);
    uv_async_send(&finished);
  }
  return NULL;
}

static void on_finished(uv_async_t *handle) {
  (void)handle;
  pthread_mutex_lock(&lock);
  spawn_job *job = done_head;
  done_head = done_tail = NULL;
  pthread_mutex_unlock(&lock);
  while (job) {
    spawn_job *next = job->next;
    in_flight--;
    job->done(owner, job);
    job = next;
  }
  /* Nothing in flight: the loop need not stay alive for us. */
  if (in_flight == 0) uv_unref((uv_handle_t *)&finished);
}

int spawn_thread_submit(napi_env env, spawn_job *job) {
  if (!started) {
    uv_loop_t *loop = NULL;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_async_init(loop, &finished, on_finished) != 0)
      return ENOMEM;
    uv_unref((uv_handle_t *)&finished);
    owner = env;
    submitter_tid = (pid_t)syscall(SYS_gettid);
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    int err = pthread_create(&thread, &attributes, launch_thread, NULL);
    pthread_attr_destroy(&attributes);
    if (err) {
      uv_close((uv_handle_t *)&finished, NULL);
      return err;
    }
    started = 1;
  } else if (env != owner) {
    return ENOTSUP; /* launches come from the main thread's environment only */
  }
  if (in_flight++ == 0) uv_ref((uv_handle_t *)&finished);
  pthread_mutex_lock(&lock);
  append(&todo_head, &todo_tail, job);
  pthread_cond_signal(&wake);
  pthread_mutex_unlock(&lock);
  return 0;
}
