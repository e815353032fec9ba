/*
 * spawnProcess(): start the task launcher with posix_spawn and report its
 * exit through a pidfd watched by the event loop.
 *
 * Why not child_process.spawn: libuv forks the whole Node process, whose
 * page tables grow with the heap, so each launch costs a millisecond or more
 * on the event loop. glibc's posix_spawn uses a vfork-style clone that
 * shares the parent's memory until exec: its cost does not grow with the
 * supervisor's size.
 *
 * Reaping: libuv reaps only the pids it spawned (waitpid per pid), so the
 * children started here are ours alone to reap. A pidfd becomes readable
 * when the process exits; waitid(P_PIDFD) then reaps it. The pid cannot be
 * reused before the JavaScript callback has run, because the reaping and the
 * callback happen in the same turn of the event loop: a process.kill() by
 * pid from JavaScript before the callback reaches the zombie, never a
 * stranger.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define MAX_CHILD_FDS 16

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context async_context;
  int pidfd;
  pid_t pid;
} exit_watch;

static void throw_errno(napi_env env, const char *what, int err) {
  napi_value code, message, error, errno_value;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &message);
  const char *name = err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES" : err == EAGAIN ? "EAGAIN" : "ESPAWN";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, -err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_value syscall_value;
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  napi_throw(env, error);
}

/* A JS string array as a NULL-terminated C array; NULL (with an exception pending) on failure. */
static char **string_array(napi_env env, napi_value array, const char *name) {
  uint32_t length = 0;
  if (napi_get_array_length(env, array, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, name);
    return NULL;
  }
  char **result = calloc(length + 1, sizeof(char *));
  if (!result) return NULL;
  for (uint32_t i = 0; i < length; i++) {
    napi_value item;
    size_t size = 0;
    napi_get_element(env, array, i, &item);
    if (napi_get_value_string_utf8(env, item, NULL, 0, &size) != napi_ok) {
      napi_throw_type_error(env, NULL, name);
      for (uint32_t j = 0; j < i; j++) free(result[j]);
      free(result);
      return NULL;
    }
    result[i] = malloc(size + 1);
    napi_get_value_string_utf8(env, item, result[i], size + 1, &size);
  }
  return result;
}

static void free_strings(char **strings) {
  if (!strings) return;
  for (char **s = strings; *s; s++) free(*s);
  free(strings);
}

static void on_watch_closed(uv_handle_t *handle) {
  exit_watch *watch = (exit_watch *)handle;
  napi_delete_reference(watch->env, watch->callback);
  napi_async_destroy(watch->env, watch->async_context);
  free(watch);
}

static void on_pidfd_readable(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  exit_watch *watch = (exit_watch *)poll;
  siginfo_t info;
  memset(&info, 0, sizeof info);
  if (waitid((idtype_t)P_PIDFD, (id_t)watch->pidfd, &info, WEXITED | WNOHANG) != 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    info.si_code = 0; /* ECHILD: someone else reaped it; report an unknown end */
  } else if (info.si_pid == 0) {
    return; /* not exited yet */
  }
  uv_poll_stop(poll);
  close(watch->pidfd);
  watch->pidfd = -1;

  napi_env env = watch->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value code, signal_number, callback, global, result;
  if (info.si_code == CLD_EXITED) {
    napi_create_int32(env, info.si_status, &code);
    napi_get_null(env, &signal_number);
  } else if (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED) {
    napi_get_null(env, &code);
    napi_create_int32(env, info.si_status, &signal_number);
  } else {
    napi_get_null(env, &code);
    napi_get_null(env, &signal_number);
  }
  napi_value argv[2] = {code, signal_number};
  napi_get_reference_value(env, watch->callback, &callback);
  napi_get_global(env, &global);
  if (napi_make_callback(env, watch->async_context, global, callback, 2, argv, &result) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error); /* to process 'uncaughtException', as for any callback */
  }
  napi_close_handle_scope(env, scope);
  uv_close((uv_handle_t *)poll, on_watch_closed);
}

/* spawnProcess(file, argv, env, fds, onExit): pid. Child fd i gets fds[i]; -1 means /dev/null. */
static napi_value spawn_process(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  napi_valuetype callback_type;
  if (argc < 5 || napi_typeof(env, args[4], &callback_type) != napi_ok || callback_type != napi_function) {
    napi_throw_type_error(env, NULL, "spawnProcess(file, argv, env, fds, onExit)");
    return NULL;
  }
  char file[4096];
  size_t file_length = 0;
  if (napi_get_value_string_utf8(env, args[0], file, sizeof file, &file_length) != napi_ok) {
    napi_throw_type_error(env, NULL, "spawnProcess: file must be a string");
    return NULL;
  }
  uint32_t fd_count = 0;
  napi_get_array_length(env, args[3], &fd_count);
  if (fd_count > MAX_CHILD_FDS) {
    napi_throw_range_error(env, NULL, "spawnProcess: too many child fds");
    return NULL;
  }
  int fds[MAX_CHILD_FDS];
  int moved[MAX_CHILD_FDS];
  for (uint32_t i = 0; i < fd_count; i++) {
    napi_value item;
    napi_get_element(env, args[3], i, &item);
    if (napi_get_value_int32(env, item, &fds[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "spawnProcess: fds must be numbers");
      return NULL;
    }
    moved[i] = -1;
  }
  char **argv = string_array(env, args[1], "spawnProcess: argv must be strings");
  if (!argv) return NULL;
  char **envp = string_array(env, args[2], "spawnProcess: env must be strings");
  if (!envp) {
    free_strings(argv);
    return NULL;
  }

  /* A source fd below fd_count could be overwritten by an earlier dup2: lift it out of the way. */
  int err = 0;
  for (uint32_t i = 0; i < fd_count && !err; i++) {
    if (fds[i] >= 0 && fds[i] < (int)fd_count) {
      moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, MAX_CHILD_FDS);
      if (moved[i] < 0) err = errno;
      else fds[i] = moved[i];
    }
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  for (uint32_t i = 0; i < fd_count && !err; i++) {
    if (fds[i] < 0) err = posix_spawn_file_actions_addopen(&actions, (int)i, "/dev/null", O_RDWR, 0);
    else err = posix_spawn_file_actions_adddup2(&actions, fds[i], (int)i);
  }
  /* The launcher starts with no blocked signals and default dispositions, whatever Node set. */
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  if (!err) err = posix_spawnattr_setsigmask(&attributes, &empty);
  if (!err) err = posix_spawnattr_setsigdefault(&attributes, &all);
  if (!err) err = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  if (!err) err = posix_spawn(&pid, file, &actions, &attributes, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  for (uint32_t i = 0; i < fd_count; i++)
    if (moved[i] >= 0) close(moved[i]);
  free_strings(argv);
  free_strings(envp);
  if (err) {
    throw_errno(env, "posix_spawn", err);
    return NULL;
  }

  exit_watch *watch = calloc(1, sizeof *watch);
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  if (!watch || pidfd < 0 || uv_poll_init(loop, &watch->poll, pidfd) != 0) {
    /* Without a watch the child could never be reaped: stop it now rather than lose it. */
    int watch_err = pidfd < 0 ? errno : ENOMEM;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (pidfd >= 0) close(pidfd);
    free(watch);
    throw_errno(env, "pidfd_open", watch_err);
    return NULL;
  }
  watch->env = env;
  watch->pidfd = pidfd;
  watch->pid = pid;
  napi_create_reference(env, args[4], 1, &watch->callback);
  napi_value resource_name;
  napi_create_string_utf8(env, "bistro:task-launcher", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &watch->async_context);
  uv_poll_start(&watch->poll, UV_READABLE, on_pidfd_readable);

  napi_value result;
  napi_create_int32(env, pid, &result);
  return result;
}

napi_value register_spawn(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "spawnProcess", NAPI_AUTO_LENGTH, spawn_process, NULL, &fn);
  napi_set_named_property(env, exports, "spawnProcess", fn);
  return exports;
}
